#pragma once
// The DICOM Query/Retrieve information model as the index stores it: which entity level owns each
// attribute. The index keeps every attribute of a level (as JSON beside the indexed columns), so
// this table decides where a tag is stored and where a query key is matched.

#include <cstdint>
#include <map>
#include <string>

namespace ossa::index {

enum class Level { kPatient = 0, kStudy = 1, kSeries = 2, kInstance = 3 };
constexpr int kLevelCount = 4;

const char* to_string(Level level);  // "PATIENT", "STUDY", "SERIES", "IMAGE"

// Attribute values in UTF-8, keyed by tag (group << 16 | element); multiple values joined by '\'.
using Attributes = std::map<uint32_t, std::string>;

// The level that owns `tag` (PS3.3 Patient, General Study / Patient Study and General Series /
// General Equipment modules; everything else belongs to the instance).
Level level_of_tag(uint32_t tag);

constexpr uint32_t tag(uint16_t group, uint16_t element) {
  return (static_cast<uint32_t>(group) << 16) | element;
}

// Tags the index refers to by name.
namespace tags {
constexpr uint32_t kSpecificCharacterSet = tag(0x0008, 0x0005);
constexpr uint32_t kSopClassUid = tag(0x0008, 0x0016);
constexpr uint32_t kSopInstanceUid = tag(0x0008, 0x0018);
constexpr uint32_t kStudyDate = tag(0x0008, 0x0020);
constexpr uint32_t kSeriesDate = tag(0x0008, 0x0021);
constexpr uint32_t kStudyTime = tag(0x0008, 0x0030);
constexpr uint32_t kAccessionNumber = tag(0x0008, 0x0050);
constexpr uint32_t kQueryRetrieveLevel = tag(0x0008, 0x0052);
constexpr uint32_t kRetrieveAeTitle = tag(0x0008, 0x0054);
constexpr uint32_t kInstanceAvailability = tag(0x0008, 0x0056);
constexpr uint32_t kModality = tag(0x0008, 0x0060);
constexpr uint32_t kModalitiesInStudy = tag(0x0008, 0x0061);
constexpr uint32_t kSopClassesInStudy = tag(0x0008, 0x0062);
constexpr uint32_t kReferringPhysicianName = tag(0x0008, 0x0090);
constexpr uint32_t kStudyDescription = tag(0x0008, 0x1030);
constexpr uint32_t kSeriesDescription = tag(0x0008, 0x103E);
constexpr uint32_t kPatientName = tag(0x0010, 0x0010);
constexpr uint32_t kPatientId = tag(0x0010, 0x0020);
constexpr uint32_t kIssuerOfPatientId = tag(0x0010, 0x0021);
constexpr uint32_t kPatientBirthDate = tag(0x0010, 0x0030);
constexpr uint32_t kPatientSex = tag(0x0010, 0x0040);
constexpr uint32_t kStudyInstanceUid = tag(0x0020, 0x000D);
constexpr uint32_t kSeriesInstanceUid = tag(0x0020, 0x000E);
constexpr uint32_t kStudyId = tag(0x0020, 0x0010);
constexpr uint32_t kSeriesNumber = tag(0x0020, 0x0011);
constexpr uint32_t kInstanceNumber = tag(0x0020, 0x0013);
constexpr uint32_t kNumberOfPatientRelatedStudies = tag(0x0020, 0x1200);
constexpr uint32_t kNumberOfPatientRelatedSeries = tag(0x0020, 0x1202);
constexpr uint32_t kNumberOfPatientRelatedInstances = tag(0x0020, 0x1204);
constexpr uint32_t kNumberOfStudyRelatedSeries = tag(0x0020, 0x1206);
constexpr uint32_t kNumberOfStudyRelatedInstances = tag(0x0020, 0x1208);
constexpr uint32_t kNumberOfSeriesRelatedInstances = tag(0x0020, 0x1209);
}  // namespace tags

}  // namespace ossa::index
