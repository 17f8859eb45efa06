#include "xmlrpc/dicom_keys.h"

#include <cstdio>
#include <cstring>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcelem.h"
#include "dcmtk/dcmdata/dcsequen.h"
#include "dicom/charset.h"
#include "dicom/tag_keys.h"

namespace ossa::xmlrpc {
namespace {

// Keyword spellings of older DICOM dictionaries that OsiriX scripts still send.
const std::map<std::string, std::string>& legacy_names() {
  static const std::map<std::string, std::string> names = {
      {"PatientsName", "PatientName"},
      {"PatientsBirthDate", "PatientBirthDate"},
      {"PatientsSex", "PatientSex"},
      {"ModalitiesinStudy", "ModalitiesInStudy"},
      {"ReferringPhysiciansName", "ReferringPhysicianName"},
      {"PerformingPhysiciansName", "PerformingPhysicianName"},
  };
  return names;
}

std::string keyword_of(DcmTag tag) {
  const char* name = tag.getTagName();
  if (name && std::strcmp(name, DcmTag_ERROR_TagName) != 0 && tag.getElement() != 0) return name;
  return tag.getXTag().toString().c_str();
}

xmlrpc_c::value item_to_struct(DcmItem& item) {
  std::map<std::string, xmlrpc_c::value> out;
  for (unsigned long i = 0; i < item.card(); ++i) {
    DcmElement* element = item.getElement(i);
    if (!element) continue;
    DcmTag tag = element->getTag();
    if (tag.getXTag() == DCM_SpecificCharacterSet) continue;
    if (tag.getGroup() == 0x0000 || tag.getGroup() == 0x0002) continue;
    if (element->ident() == EVR_SQ) {
      auto* sequence = static_cast<DcmSequenceOfItems*>(element);
      std::vector<xmlrpc_c::value> items;
      for (unsigned long k = 0; k < sequence->card(); ++k)
        items.push_back(item_to_struct(*sequence->getItem(k)));
      out[keyword_of(tag)] = xmlrpc_c::value_array(items);
      continue;
    }
    OFString value;
    if (element->getLength() > 0) element->getOFStringArray(value);
    std::string text(value.c_str(), value.length());
    while (!text.empty() && (text.back() == ' ' || text.back() == '\0')) text.pop_back();
    out[keyword_of(tag)] = xmlrpc_c::value_string(text);
  }
  return xmlrpc_c::value_struct(out);
}

}  // namespace

bool parse_dicom_key(const std::string& key, DcmTag& tag) {
  if (dicom::parse_tag_key(key, tag)) return true;
  const auto legacy = legacy_names().find(key);
  return legacy != legacy_names().end() &&
         DcmTag::findTagFromName(legacy->second.c_str(), tag).good();
}

std::string put_key(DcmDataset& dataset, const std::string& key, const std::string& value) {
  DcmTag tag;
  if (key.empty() || !parse_dicom_key(key, tag))
    return "unknown DICOM key '" + key + "' (a keyword such as PatientID, or (gggg,eeee))";
  if (tag.getEVR() == EVR_SQ) {
    if (!value.empty()) return key + " is a sequence; it can only be a return key";
    dataset.insertEmptyElement(tag);
    return "";
  }
  const OFCondition cond = dataset.putAndInsertString(tag, value.c_str());
  if (cond.bad()) return "cannot use " + key + "=" + value + ": " + cond.text();
  if (!dicom::is_ascii(value) && !dataset.tagExists(DCM_SpecificCharacterSet))
    dataset.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
  return "";
}

xmlrpc_c::value dataset_to_struct(DcmDataset& dataset) {
  OFString charset;
  dataset.findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
  std::string declared = charset.c_str();
  while (!declared.empty() && declared.back() == ' ') declared.pop_back();
  if (declared.empty() || declared == "ISO_IR 192" || declared == "ISO_IR 6")
    return item_to_struct(dataset);
  DcmDataset copy(dataset);
  copy.convertToUTF8();  // best effort: a value that cannot be converted stays as received
  return item_to_struct(copy);
}

}  // namespace ossa::xmlrpc
