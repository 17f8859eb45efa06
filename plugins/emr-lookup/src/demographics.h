#pragma once
// What the EMR says about a patient, already in DICOM form, and how a look-up ended.

#include <optional>
#include <string>
#include <vector>

namespace ossa::emr {

// The four coerced attributes. An empty field means "the EMR did not say": it is left as received.
struct Demographics {
  std::string patient_name;            // PN: Family^Given^Middle^Prefix^Suffix
  std::string birth_date;              // DA: YYYYMMDD
  std::string sex;                     // CS: M, F or O
  std::vector<std::string> other_ids;  // OtherPatientIDs (0010,1000), one value each

  bool empty() const {
    return patient_name.empty() && birth_date.empty() && sex.empty() && other_ids.empty();
  }
  bool operator==(const Demographics& o) const {
    return patient_name == o.patient_name && birth_date == o.birth_date && sex == o.sex &&
           other_ids == o.other_ids;
  }
};

// The patient as the EMR is asked for it.
struct PatientKey {
  std::string patient_id;
  std::string issuer;  // IssuerOfPatientID; empty when absent or not used
  std::string cache_key() const { return issuer + '\x1f' + patient_id; }
};

struct LookupResult {
  enum class Outcome {
    kFound,        // `demographics` holds the answer
    kNotFound,     // the EMR answered: no such patient (or several: ambiguous, see `detail`)
    kUnreachable,  // no answer: connection refused, timeout, HTTP error, bad reply
  };
  Outcome outcome = Outcome::kUnreachable;
  Demographics demographics;
  std::string detail;  // why, for the log

  static LookupResult found(Demographics d) { return {Outcome::kFound, std::move(d), ""}; }
  static LookupResult not_found(std::string why) {
    return {Outcome::kNotFound, {}, std::move(why)};
  }
  static LookupResult unreachable(std::string why) {
    return {Outcome::kUnreachable, {}, std::move(why)};
  }
};

}  // namespace ossa::emr
