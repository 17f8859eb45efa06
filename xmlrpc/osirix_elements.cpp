#include "xmlrpc/osirix_elements.h"

#include <map>
#include <string>

#include "index/matching.h"

namespace ossa::xmlrpc {
namespace {

using index::tag;
namespace tags = index::tags;

class Element {
 public:
  explicit Element(const index::Attributes& a) : a_(a) {}

  void text(const char* name, uint32_t t) {
    const auto it = a_.find(t);
    if (it == a_.end()) return;
    const std::string v = index::trim(it->second);
    if (!v.empty()) set(name, v);
  }
  void set(const char* name, const std::string& value) {
    members_[name] = xmlrpc_c::value_string(value);
  }
  // "YYYYMMDD" (+ "HHMMSS") -> "YYYY-MM-DD HH:MM:SS +0000".
  void date(const char* name, uint32_t date_tag, uint32_t time_tag) {
    const auto d = a_.find(date_tag);
    if (d == a_.end()) return;
    const std::string day = index::normalize_date(d->second);
    if (day.empty()) return;
    std::string clock = "000000";
    const auto t = time_tag ? a_.find(time_tag) : a_.end();
    if (t != a_.end()) {
      const std::string c = index::normalize_time(t->second);
      if (c.size() >= 6) clock = c.substr(0, 6);
    }
    set_canonical_date(name, day + clock);
  }
  void set_canonical_date(const char* name, const std::string& c) {
    if (c.size() < 14) return;
    set(name, c.substr(0, 4) + "-" + c.substr(4, 2) + "-" + c.substr(6, 2) + " " + c.substr(8, 2) +
                  ":" + c.substr(10, 2) + ":" + c.substr(12, 2) + " +0000");
  }
  xmlrpc_c::value value() const { return xmlrpc_c::value_struct(members_); }

 private:
  const index::Attributes& a_;
  std::map<std::string, xmlrpc_c::value> members_;
};

}  // namespace

xmlrpc_c::value osirix_element(index::predicate::Table table,
                               const index::predicate::PredicateMatch& match,
                               const archive::Archive& archive) {
  using index::predicate::Table;
  Element e(match.attributes);
  e.set_canonical_date("dateAdded", match.date_added);
  switch (table) {
    case Table::kStudy:
      e.text("patientID", tags::kPatientId);
      e.text("patientUID", tags::kPatientId);
      e.text("name", tags::kPatientName);
      e.date("dateOfBirth", tags::kPatientBirthDate, 0);
      e.text("patientSex", tags::kPatientSex);
      e.text("studyInstanceUID", tags::kStudyInstanceUid);
      e.text("accessionNumber", tags::kAccessionNumber);
      e.text("id", tags::kStudyId);
      e.date("date", tags::kStudyDate, tags::kStudyTime);
      e.text("studyName", tags::kStudyDescription);
      e.text("comment", tag(0x0032, 0x4000));
      e.text("referringPhysician", tags::kReferringPhysicianName);
      e.text("modality", tags::kModalitiesInStudy);
      e.text("numberOfImages", tags::kNumberOfStudyRelatedInstances);
      e.set("hasDICOM", "1");
      break;
    case Table::kSeries:
      e.text("seriesInstanceUID", tags::kSeriesInstanceUid);
      e.text("seriesDICOMUID", tags::kSeriesInstanceUid);
      e.text("id", tags::kSeriesNumber);
      e.text("name", tags::kSeriesDescription);
      e.text("seriesDescription", tags::kSeriesDescription);
      e.text("modality", tags::kModality);
      e.date("date", tags::kSeriesDate, tag(0x0008, 0x0031));
      e.text("numberOfImages", tags::kNumberOfSeriesRelatedInstances);
      e.text("seriesSOPClassUID", tags::kSopClassUid);
      e.text("comment", tag(0x0020, 0x4000));
      break;
    case Table::kImage:
      e.text("instanceNumber", tags::kInstanceNumber);
      e.text("sopInstanceUID", tags::kSopInstanceUid);  // Ossa: OsiriX keeps it as data only
      e.text("sliceLocation", tag(0x0020, 0x1041));
      e.text("storedModality", tags::kModality);
      e.text("storedNumberOfFrames", tag(0x0028, 0x0008));
      e.text("storedHeight", tag(0x0028, 0x0010));
      e.text("storedWidth", tag(0x0028, 0x0011));
      e.date("date", tag(0x0008, 0x0023), tag(0x0008, 0x0033));
      e.text("comment", tag(0x0020, 0x4000));
      if (!match.file_path.empty()) {
        e.set("pathString", archive.store().absolute(match.file_path).string());
        e.set("storedExtension", "dcm");
        e.set("storedInDatabaseFolder", "1");
      }
      break;
  }
  return e.value();
}

}  // namespace ossa::xmlrpc
