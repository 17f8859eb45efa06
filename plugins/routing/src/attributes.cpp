#include "attributes.h"

#include <cstdio>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace ossa::routing {
namespace {

constexpr uint32_t tag(uint16_t group, uint16_t element) {
  return (static_cast<uint32_t>(group) << 16) | element;
}

struct Entry {
  uint16_t group, element;
  const char* keyword;
  ValueKind kind;
};

constexpr ValueKind T = ValueKind::kText;
constexpr ValueKind PN = ValueKind::kPersonName;
constexpr ValueKind DA = ValueKind::kDate;
constexpr ValueKind TM = ValueKind::kTime;
constexpr ValueKind DT = ValueKind::kDateTime;

// The keywords rules may use. Levels come from index_level_of_tag (the index's model), so this
// table only names attributes and says how their values compare.
const Entry kEntries[] = {
    // Patient
    {0x0010, 0x0010, "PatientName", PN},
    {0x0010, 0x0020, "PatientID", T},
    {0x0010, 0x0021, "IssuerOfPatientID", T},
    {0x0010, 0x0030, "PatientBirthDate", DA},
    {0x0010, 0x0032, "PatientBirthTime", TM},
    {0x0010, 0x0040, "PatientSex", T},
    {0x0010, 0x1000, "OtherPatientIDs", T},
    {0x0010, 0x1001, "OtherPatientNames", PN},
    {0x0010, 0x2160, "EthnicGroup", T},
    {0x0010, 0x2201, "PatientSpeciesDescription", T},
    {0x0010, 0x2297, "ResponsiblePerson", PN},
    {0x0010, 0x4000, "PatientComments", T},
    // Patient Study (kept with the study)
    {0x0010, 0x1010, "PatientAge", T},
    {0x0010, 0x1020, "PatientSize", T},
    {0x0010, 0x1030, "PatientWeight", T},
    {0x0010, 0x2180, "Occupation", T},
    {0x0010, 0x21A0, "SmokingStatus", T},
    {0x0010, 0x21B0, "AdditionalPatientHistory", T},
    {0x0010, 0x21C0, "PregnancyStatus", T},
    {0x0010, 0x21D0, "LastMenstrualDate", DA},
    // Study
    {0x0008, 0x0020, "StudyDate", DA},
    {0x0008, 0x0030, "StudyTime", TM},
    {0x0008, 0x0050, "AccessionNumber", T},
    {0x0008, 0x0090, "ReferringPhysicianName", PN},
    {0x0008, 0x1030, "StudyDescription", T},
    {0x0008, 0x1048, "PhysiciansOfRecord", PN},
    {0x0008, 0x1060, "NameOfPhysiciansReadingStudy", PN},
    {0x0008, 0x1080, "AdmittingDiagnosesDescription", T},
    {0x0020, 0x000D, "StudyInstanceUID", T},
    {0x0020, 0x0010, "StudyID", T},
    {0x0020, 0x1070, "OtherStudyNumbers", T},
    {0x0032, 0x1032, "RequestingPhysician", PN},
    {0x0032, 0x1033, "RequestingService", T},
    {0x0032, 0x1060, "RequestedProcedureDescription", T},
    {0x0032, 0x4000, "StudyComments", T},
    {0x0038, 0x0010, "AdmissionID", T},
    {0x0038, 0x0500, "PatientState", T},
    // Series and equipment
    {0x0008, 0x0021, "SeriesDate", DA},
    {0x0008, 0x0031, "SeriesTime", TM},
    {0x0008, 0x0060, "Modality", T},
    {0x0008, 0x0070, "Manufacturer", T},
    {0x0008, 0x0080, "InstitutionName", T},
    {0x0008, 0x0081, "InstitutionAddress", T},
    {0x0008, 0x103E, "SeriesDescription", T},
    {0x0008, 0x1010, "StationName", T},
    {0x0008, 0x1040, "InstitutionalDepartmentName", T},
    {0x0008, 0x1050, "PerformingPhysicianName", PN},
    {0x0008, 0x1070, "OperatorsName", PN},
    {0x0008, 0x1090, "ManufacturerModelName", T},
    {0x0018, 0x0015, "BodyPartExamined", T},
    {0x0018, 0x1000, "DeviceSerialNumber", T},
    {0x0018, 0x1020, "SoftwareVersions", T},
    {0x0018, 0x1030, "ProtocolName", T},
    {0x0018, 0x5100, "PatientPosition", T},
    {0x0020, 0x000E, "SeriesInstanceUID", T},
    {0x0020, 0x0011, "SeriesNumber", T},
    {0x0020, 0x0052, "FrameOfReferenceUID", T},
    {0x0020, 0x0060, "Laterality", T},
    {0x0040, 0x0244, "PerformedProcedureStepStartDate", DA},
    {0x0040, 0x0245, "PerformedProcedureStepStartTime", TM},
    {0x0040, 0x0253, "PerformedProcedureStepID", T},
    {0x0040, 0x0254, "PerformedProcedureStepDescription", T},
    // Instance
    {0x0008, 0x0005, "SpecificCharacterSet", T},
    {0x0008, 0x0008, "ImageType", T},
    {0x0008, 0x0012, "InstanceCreationDate", DA},
    {0x0008, 0x0013, "InstanceCreationTime", TM},
    {0x0008, 0x0016, "SOPClassUID", T},
    {0x0008, 0x0018, "SOPInstanceUID", T},
    {0x0008, 0x0022, "AcquisitionDate", DA},
    {0x0008, 0x0023, "ContentDate", DA},
    {0x0008, 0x002A, "AcquisitionDateTime", DT},
    {0x0008, 0x0032, "AcquisitionTime", TM},
    {0x0008, 0x0033, "ContentTime", TM},
    {0x0008, 0x0064, "ConversionType", T},
    {0x0008, 0x0068, "PresentationIntentType", T},
    {0x0008, 0x2111, "DerivationDescription", T},
    {0x0018, 0x0010, "ContrastBolusAgent", T},
    {0x0018, 0x0020, "ScanningSequence", T},
    {0x0018, 0x0024, "SequenceName", T},
    {0x0018, 0x0050, "SliceThickness", T},
    {0x0018, 0x0060, "KVP", T},
    {0x0018, 0x5101, "ViewPosition", T},
    {0x0020, 0x0012, "AcquisitionNumber", T},
    {0x0020, 0x0013, "InstanceNumber", T},
    {0x0020, 0x0062, "ImageLaterality", T},
    {0x0020, 0x4000, "ImageComments", T},
    {0x0028, 0x0004, "PhotometricInterpretation", T},
    {0x0028, 0x0008, "NumberOfFrames", T},
    {0x0028, 0x0010, "Rows", T},
    {0x0028, 0x0011, "Columns", T},
    {0x0028, 0x0301, "BurnedInAnnotation", T},
    {0x0028, 0x2110, "LossyImageCompression", T},
    {0x0040, 0xA491, "CompletionFlag", T},
    {0x0040, 0xA493, "VerificationFlag", T},
    {0x0042, 0x0010, "DocumentTitle", T},
    {0x0070, 0x0080, "ContentLabel", T},
    {0x0070, 0x0081, "ContentDescription", T},
};

const std::vector<AttributeInfo>& table() {
  static const std::vector<AttributeInfo> t = [] {
    std::vector<AttributeInfo> out;
    for (const Entry& e : kEntries) {
      const uint32_t t = tag(e.group, e.element);
      out.push_back({t, e.keyword, index_level_of_tag(t), e.kind});
    }
    return out;
  }();
  return t;
}

const std::unordered_map<std::string_view, size_t>& by_keyword() {
  static const std::unordered_map<std::string_view, size_t> m = [] {
    std::unordered_map<std::string_view, size_t> out;
    for (size_t i = 0; i < table().size(); ++i) out.emplace(table()[i].keyword, i);
    return out;
  }();
  return m;
}

const std::unordered_map<uint32_t, size_t>& by_tag() {
  static const std::unordered_map<uint32_t, size_t> m = [] {
    std::unordered_map<uint32_t, size_t> out;
    for (size_t i = 0; i < table().size(); ++i) out.emplace(table()[i].tag, i);
    return out;
  }();
  return m;
}

// The index's model (core/index/levels.cpp), repeated here: plugins do not see core headers.
const std::unordered_set<uint32_t>& patient_study_tags() {
  static const std::unordered_set<uint32_t> set = {
      tag(0x0010, 0x1010), tag(0x0010, 0x1020), tag(0x0010, 0x1022),
      tag(0x0010, 0x1030), tag(0x0010, 0x2180), tag(0x0010, 0x21A0),
      tag(0x0010, 0x21B0), tag(0x0010, 0x21C0), tag(0x0010, 0x21D0),
  };
  return set;
}

const std::unordered_set<uint32_t>& study_tags() {
  static const std::unordered_set<uint32_t> set = {
      tag(0x0008, 0x0020), tag(0x0008, 0x0030), tag(0x0008, 0x0050), tag(0x0008, 0x0090),
      tag(0x0008, 0x1030), tag(0x0020, 0x000D), tag(0x0020, 0x0010), tag(0x0008, 0x0051),
      tag(0x0008, 0x0096), tag(0x0008, 0x1032), tag(0x0008, 0x1048), tag(0x0008, 0x1060),
      tag(0x0008, 0x1080), tag(0x0008, 0x1110), tag(0x0020, 0x1070), tag(0x0032, 0x1032),
      tag(0x0032, 0x1033), tag(0x0032, 0x1060), tag(0x0032, 0x4000), tag(0x0038, 0x0010),
      tag(0x0038, 0x0500),
  };
  return set;
}

const std::unordered_set<uint32_t>& series_tags() {
  static const std::unordered_set<uint32_t> set = {
      tag(0x0008, 0x0021), tag(0x0008, 0x0060), tag(0x0008, 0x103E), tag(0x0020, 0x000E),
      tag(0x0020, 0x0011), tag(0x0008, 0x0031), tag(0x0008, 0x0070), tag(0x0008, 0x0080),
      tag(0x0008, 0x0081), tag(0x0008, 0x1010), tag(0x0008, 0x1040), tag(0x0008, 0x1050),
      tag(0x0008, 0x1070), tag(0x0008, 0x1090), tag(0x0018, 0x0015), tag(0x0018, 0x1000),
      tag(0x0018, 0x1020), tag(0x0018, 0x1030), tag(0x0018, 0x5100), tag(0x0020, 0x0052),
      tag(0x0020, 0x0060), tag(0x0040, 0x0244), tag(0x0040, 0x0245), tag(0x0040, 0x0253),
      tag(0x0040, 0x0254),
  };
  return set;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

AttrLevel index_level_of_tag(uint32_t t) {
  const uint16_t group = static_cast<uint16_t>(t >> 16);
  if (group == 0x0010) {
    return patient_study_tags().count(t) ? AttrLevel::kStudy : AttrLevel::kPatient;
  }
  if (study_tags().count(t)) return AttrLevel::kStudy;
  if (series_tags().count(t)) return AttrLevel::kSeries;
  return AttrLevel::kInstance;
}

const char* level_name(AttrLevel level) {
  switch (level) {
    case AttrLevel::kPatient:
      return "PATIENT";
    case AttrLevel::kStudy:
      return "STUDY";
    case AttrLevel::kSeries:
      return "SERIES";
    case AttrLevel::kInstance:
      return "IMAGE";
  }
  return "IMAGE";
}

std::optional<AttributeInfo> attribute_by_keyword(std::string_view keyword) {
  const auto it = by_keyword().find(keyword);
  if (it == by_keyword().end()) return std::nullopt;
  return table()[it->second];
}

AttributeInfo attribute_by_tag(uint32_t t) {
  const auto it = by_tag().find(t);
  if (it != by_tag().end()) return table()[it->second];
  AttributeInfo info;
  info.tag = t;
  info.level = index_level_of_tag(t);
  return info;
}

bool parse_tag_text(std::string_view text, uint32_t& out) {
  if (text.size() != 11 || text[0] != '(' || text[5] != ',' || text[10] != ')') return false;
  uint32_t value = 0;
  for (size_t i : {1, 2, 3, 4, 6, 7, 8, 9}) {
    const int d = hex_digit(text[i]);
    if (d < 0) return false;
    value = value << 4 | static_cast<uint32_t>(d);
  }
  out = value;
  return true;
}

std::string tag_text(uint32_t t) {
  char text[16];
  std::snprintf(text, sizeof text, "(%04X,%04X)", t >> 16, t & 0xFFFF);
  return text;
}

size_t keyword_count() {
  return table().size();
}

const AttributeInfo& keyword_at(size_t i) {
  return table().at(i);
}

}  // namespace ossa::routing
