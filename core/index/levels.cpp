#include "index/levels.h"

#include <unordered_set>

namespace ossa::index {
namespace {

// Patient-group (0010,xxxx) attributes that PS3.3 places in the Patient Study module: they describe
// the patient at the time of one study, so they live with the study.
const std::unordered_set<uint32_t>& patient_study_tags() {
  static const std::unordered_set<uint32_t> set = {
      tag(0x0010, 0x1010),  // Patient's Age
      tag(0x0010, 0x1020),  // Patient's Size
      tag(0x0010, 0x1022),  // Patient's Body Mass Index
      tag(0x0010, 0x1030),  // Patient's Weight
      tag(0x0010, 0x2180),  // Occupation
      tag(0x0010, 0x21A0),  // Smoking Status
      tag(0x0010, 0x21B0),  // Additional Patient History
      tag(0x0010, 0x21C0),  // Pregnancy Status
      tag(0x0010, 0x21D0),  // Last Menstrual Date
  };
  return set;
}

const std::unordered_set<uint32_t>& study_tags() {
  static const std::unordered_set<uint32_t> set = {
      tags::kStudyDate,        tags::kStudyTime,
      tags::kAccessionNumber,  tags::kReferringPhysicianName,
      tags::kStudyDescription, tags::kStudyInstanceUid,
      tags::kStudyId,          tag(0x0008, 0x0051),  // Issuer of Accession Number Sequence
      tag(0x0008, 0x0096),                           // Referring Physician Identification Sequence
      tag(0x0008, 0x1032),                           // Procedure Code Sequence
      tag(0x0008, 0x1048),                           // Physician(s) of Record
      tag(0x0008, 0x1060),                           // Name of Physician(s) Reading Study
      tag(0x0008, 0x1080),                           // Admitting Diagnoses Description
      tag(0x0008, 0x1110),                           // Referenced Study Sequence
      tag(0x0020, 0x1070),                           // Other Study Numbers
      tag(0x0032, 0x1032),                           // Requesting Physician
      tag(0x0032, 0x1033),                           // Requesting Service
      tag(0x0032, 0x1060),                           // Requested Procedure Description
      tag(0x0032, 0x4000),                           // Study Comments
      tag(0x0038, 0x0010),                           // Admission ID
      tag(0x0038, 0x0500),                           // Patient State
  };
  return set;
}

const std::unordered_set<uint32_t>& series_tags() {
  static const std::unordered_set<uint32_t> set = {
      tags::kSeriesDate,        tags::kModality,     tags::kSeriesDescription,
      tags::kSeriesInstanceUid, tags::kSeriesNumber, tag(0x0008, 0x0031),  // Series Time
      tag(0x0008, 0x0070),                                                 // Manufacturer
      tag(0x0008, 0x0080),                                                 // Institution Name
      tag(0x0008, 0x0081),                                                 // Institution Address
      tag(0x0008, 0x1010),                                                 // Station Name
      tag(0x0008, 0x1040),  // Institutional Department Name
      tag(0x0008, 0x1050),  // Performing Physician's Name
      tag(0x0008, 0x1070),  // Operators' Name
      tag(0x0008, 0x1090),  // Manufacturer's Model Name
      tag(0x0018, 0x0015),  // Body Part Examined
      tag(0x0018, 0x1000),  // Device Serial Number
      tag(0x0018, 0x1020),  // Software Versions
      tag(0x0018, 0x1030),  // Protocol Name
      tag(0x0018, 0x5100),  // Patient Position
      tag(0x0020, 0x0052),  // Frame of Reference UID
      tag(0x0020, 0x0060),  // Laterality
      tag(0x0040, 0x0244),  // Performed Procedure Step Start Date
      tag(0x0040, 0x0245),  // Performed Procedure Step Start Time
      tag(0x0040, 0x0253),  // Performed Procedure Step ID
      tag(0x0040, 0x0254),  // Performed Procedure Step Description
  };
  return set;
}

}  // namespace

const char* to_string(Level level) {
  switch (level) {
    case Level::kPatient:
      return "PATIENT";
    case Level::kStudy:
      return "STUDY";
    case Level::kSeries:
      return "SERIES";
    case Level::kInstance:
      return "IMAGE";
  }
  return "IMAGE";
}

Level level_of_tag(uint32_t t) {
  const uint16_t group = static_cast<uint16_t>(t >> 16);
  if (group == 0x0010) {
    return patient_study_tags().count(t) ? Level::kStudy : Level::kPatient;
  }
  if (study_tags().count(t)) return Level::kStudy;
  if (series_tags().count(t)) return Level::kSeries;
  return Level::kInstance;
}

}  // namespace ossa::index
