#include "dicom/find_json.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcelem.h"
#include "dcmtk/dcmdata/dcitem.h"
#include "dcmtk/dcmdata/dcsequen.h"
#include "dicom/charset.h"
#include "dicom/tag_keys.h"

namespace ossa::dicom {
namespace {

using Json = nlohmann::json;

std::string key_of(DcmTag tag) {
  const char* name = tag.getTagName();
  if (!tag.isPrivate() && name && std::strcmp(name, DcmTag_ERROR_TagName) != 0) {
    // DCMTK names retired attributes "RETIRED_<keyword>"; the standard keyword is without it
    // (OtherPatientIDs is retired but still what worklists and HL7 mappings use).
    constexpr const char kRetired[] = "RETIRED_";
    if (std::strncmp(name, kRetired, sizeof kRetired - 1) == 0) return name + sizeof kRetired - 1;
    return name;
  }
  char text[16];
  std::snprintf(text, sizeof text, "(%04X,%04X)", tag.getGroup(), tag.getElement());
  return text;
}

// A keyword ("PatientName") or "(gggg,eeee)" to its tag; false when unknown. Tags the dictionary
// does not know get VR LO (text), since answers only carry text.
bool tag_from_key(const std::string& key, DcmTag& tag) {
  if (!parse_tag_key(key, tag) && DcmTag::findTagFromName(("RETIRED_" + key).c_str(), tag).bad())
    return false;
  if (tag.getEVR() == EVR_UNKNOWN || tag.getEVR() == EVR_UN) tag.setVR(DcmVR(EVR_LO));
  return true;
}

Json item_to_json(DcmItem& item, const CharsetDecoder& decoder) {
  Json out = Json::object();
  for (unsigned long i = 0; i < item.card(); ++i) {
    DcmElement* element = item.getElement(i);
    if (!element) continue;
    const DcmTag& tag = element->getTag();
    if (tag.getElement() == 0x0000 || tag == DCM_SpecificCharacterSet) continue;
    if (element->ident() == EVR_SQ) {
      auto* sequence = static_cast<DcmSequenceOfItems*>(element);
      Json items = Json::array();
      for (unsigned long k = 0; k < sequence->card(); ++k) {
        if (DcmItem* nested = sequence->getItem(k)) items.push_back(item_to_json(*nested, decoder));
      }
      out[key_of(tag)] = std::move(items);
      continue;
    }
    OFString value;
    if (element->getLength() > 0 && element->getOFStringArray(value).bad()) continue;
    std::string text(value.c_str(), value.length());
    if (!decoder.is_identity()) {
      if (auto utf8 = decoder.to_utf8(text, element->ident() == EVR_PN)) text = *utf8;
    }
    out[key_of(tag)] = std::move(text);
  }
  return out;
}

bool json_to_item(const Json& object, DcmItem& item, std::string& error) {
  if (!object.is_object()) {
    error = "an answer (or a sequence item) is not a JSON object";
    return false;
  }
  for (const auto& [key, value] : object.items()) {
    DcmTag tag;
    if (!tag_from_key(key, tag)) {
      error = "unknown attribute '" + key + "'";
      return false;
    }
    if (value.is_array()) {
      auto sequence = std::make_unique<DcmSequenceOfItems>(DcmTag(tag, EVR_SQ));
      for (const Json& entry : value) {
        auto nested = std::make_unique<DcmItem>();
        if (!json_to_item(entry, *nested, error)) return false;
        sequence->append(nested.release());
      }
      if (item.insert(sequence.release(), true).bad()) {
        error = "cannot insert sequence " + key;
        return false;
      }
      continue;
    }
    if (tag.getEVR() == EVR_SQ) {
      if (!value.is_null() && !(value.is_string() && value.get<std::string>().empty())) {
        error = "attribute '" + key + "' is a sequence: give an array of objects";
        return false;
      }
      item.insertEmptyElement(tag, true);
      continue;
    }
    const std::string text = value.is_string() ? value.get<std::string>()
                             : value.is_null() ? std::string()
                                               : value.dump();
    const OFCondition put =
        item.putAndInsertOFStringArray(tag, OFString(text.c_str(), text.size()));
    if (put.bad()) {
      error = "attribute '" + key + "': " + put.text();
      return false;
    }
  }
  return true;
}

}  // namespace

std::string identifier_to_json(DcmDataset& identifier) {
  OFString charset;
  identifier.findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
  const CharsetDecoder decoder(charset.c_str());
  return item_to_json(identifier, decoder).dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::unique_ptr<DcmDataset> answer_to_dataset(const std::string& answer_json, std::string& error) {
  Json answer;
  try {
    answer = Json::parse(answer_json);
  } catch (const std::exception& e) {
    error = std::string("not JSON: ") + e.what();
    return nullptr;
  }
  auto dataset = std::make_unique<DcmDataset>();
  if (!json_to_item(answer, *dataset, error)) return nullptr;
  // Values are UTF-8 whatever the answer said.
  dataset->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
  return dataset;
}

}  // namespace ossa::dicom
