#pragma once
// Where demographics come from: a FHIR server (fhir_source.h) or a SQL database (sql_source.h).

#include <chrono>
#include <string>

#include "demographics.h"

namespace ossa::emr {

class EmrSource {
 public:
  virtual ~EmrSource() = default;
  // Asks the EMR about one patient within `timeout` (connection and answer together). Never
  // throws: every failure is kUnreachable with the reason in `detail`. Called on several threads
  // at once.
  virtual LookupResult lookup(const PatientKey& key, std::chrono::milliseconds timeout) = 0;
  // For the log: "FHIR http://emr/fhir", "SQL".
  virtual std::string describe() const = 0;
};

}  // namespace ossa::emr
