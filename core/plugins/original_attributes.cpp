#include "plugins/original_attributes.h"

#include <algorithm>

#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcelem.h"
#include "dcmtk/dcmdata/dcitem.h"
#include "dcmtk/dcmdata/dcvrdt.h"

namespace ossa::plugins {
namespace {

const char* const kUtf8 = "ISO_IR 192";

std::string charset_of(DcmItem& item) {
  OFString value;
  item.findAndGetOFStringArray(DCM_SpecificCharacterSet, value);
  return std::string(value.c_str(), value.length());
}

// A copy of `prior` whose text is in `to_charset` (UTF-8): converted inside a scratch item,
// because DCMTK converts items, not lone elements.
std::unique_ptr<DcmElement> converted(const DcmElement& prior, const std::string& from_charset,
                                      std::string& error) {
  DcmItem scratch;
  std::unique_ptr<DcmElement> copy(OFstatic_cast(DcmElement*, prior.clone()));
  if (scratch.insert(copy.get()).bad()) {
    error = "cannot convert the prior value of " + std::string(prior.getTag().toString().c_str());
    return nullptr;
  }
  copy.release();  // the scratch item owns it now
  const OFCondition status = scratch.convertCharacterSet(from_charset.c_str(), kUtf8);
  if (status.bad()) {
    error = "cannot convert the prior value of " + std::string(prior.getTag().toString().c_str()) +
            " to UTF-8: " + status.text();
    return nullptr;
  }
  return std::unique_ptr<DcmElement>(scratch.remove(prior.getTag()));
}

}  // namespace

OriginalAttributes::OriginalAttributes() = default;
OriginalAttributes::~OriginalAttributes() = default;

void OriginalAttributes::begin_plugin(const std::string& plugin_name) {
  plugin_ = plugin_name;
}

void OriginalAttributes::before_change(DcmDataset& dataset, const DcmTagKey& key) {
  for (const Change& c : changes_) {
    if (c.plugin == plugin_ && c.key == key) return;  // the first prior value is the original
  }
  Change change;
  change.plugin = plugin_;
  change.key = key;
  change.charset = charset_of(dataset);
  DcmElement* element = nullptr;
  if (dataset.findAndGetElement(key, element).good() && element != nullptr) {
    change.prior.reset(OFstatic_cast(DcmElement*, element->clone()));
  }
  changes_.push_back(std::move(change));
}

bool OriginalAttributes::write(DcmDataset& dataset, const std::string& source_aet,
                               std::string& error) const {
  if (changes_.empty()) return true;
  const std::string final_charset = charset_of(dataset);
  OFString now;
  DcmDateTime::getCurrentDateTime(now, OFTrue, OFTrue, OFTrue);

  std::vector<std::string> plugins;
  for (const Change& c : changes_) {
    if (std::find(plugins.begin(), plugins.end(), c.plugin) == plugins.end())
      plugins.push_back(c.plugin);
  }
  for (const std::string& plugin : plugins) {
    auto modified = std::make_unique<DcmItem>();
    bool patient_id_changed = false;
    bool issuer_recorded = false;
    for (const Change& c : changes_) {
      if (c.plugin != plugin) continue;
      patient_id_changed = patient_id_changed || c.key == DCM_PatientID;
      issuer_recorded = issuer_recorded || c.key == DCM_IssuerOfPatientID;
      if (!c.prior) {
        // Absent before, added by the plugin: zero length (C.12.1.1.9).
        if (modified->insertEmptyElement(DcmTag(c.key)).bad()) {
          error = "cannot record " + std::string(DcmTag(c.key).toString().c_str());
          return false;
        }
        continue;
      }
      std::unique_ptr<DcmElement> prior;
      if (c.charset != final_charset && final_charset == kUtf8 && !c.charset.empty()) {
        prior = converted(*c.prior, c.charset, error);
        if (!prior) return false;
      } else {
        prior.reset(OFstatic_cast(DcmElement*, c.prior->clone()));
      }
      if (modified->insert(prior.get(), OFTrue).bad()) {
        error = "cannot record " + std::string(DcmTag(c.key).toString().c_str());
        return false;
      }
      prior.release();  // the item owns it now
    }
    if (patient_id_changed && !issuer_recorded) {
      // "inclusion of Issuer of Patient ID, even if unchanged, or absent in the original, can
      // more precisely identify the context of the replaced value" (C.12.1.1.9).
      DcmElement* issuer = nullptr;
      if (dataset.findAndGetElement(DCM_IssuerOfPatientID, issuer).good() && issuer != nullptr) {
        std::unique_ptr<DcmElement> copy(OFstatic_cast(DcmElement*, issuer->clone()));
        if (modified->insert(copy.get(), OFTrue).good()) copy.release();
      } else {
        modified->insertEmptyElement(DcmTag(DCM_IssuerOfPatientID));
      }
    }

    auto item = std::make_unique<DcmItem>();
    const bool filled =
        item->putAndInsertString(DCM_AttributeModificationDateTime, now.c_str()).good() &&
        item->putAndInsertString(DCM_ModifyingSystem, plugin.c_str()).good() &&
        item->putAndInsertString(DCM_SourceOfPreviousValues, source_aet.c_str()).good() &&
        item->putAndInsertString(DCM_ReasonForTheAttributeModification, "COERCE").good();
    if (!filled || item->insertSequenceItem(DCM_ModifiedAttributesSequence, modified.get()).bad()) {
      error = "cannot build an Original Attributes Sequence item";
      return false;
    }
    modified.release();  // the item owns it now
    // Appended (position -2 = at the end): items already in the sequence are kept.
    if (dataset.insertSequenceItem(DCM_OriginalAttributesSequence, item.get(), -2).bad()) {
      error = "cannot add an Original Attributes Sequence item";
      return false;
    }
    item.release();
  }
  dataset.putAndInsertString(DCM_InstanceCoercionDateTime, now.c_str());
  return true;
}

}  // namespace ossa::plugins
