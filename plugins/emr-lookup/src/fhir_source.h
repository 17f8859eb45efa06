#pragma once
// FHIR R4 over HTTP(S) with cpp-httplib: GET [base]/Patient?identifier=[system|]value,
// Accept: application/fhir+json, optionally Authorization: Bearer <token>. One connection per
// look-up (the cache makes look-ups rare); HTTPS verifies the server's certificate unless
// verify_tls is false.

#include <string>

#include "config.h"
#include "emr_source.h"

namespace ossa::emr {

class FhirSource final : public EmrSource {
 public:
  // Throws std::invalid_argument for a base URL httplib cannot use.
  explicit FhirSource(FhirConfig config);
  LookupResult lookup(const PatientKey& key, std::chrono::milliseconds timeout) override;
  std::string describe() const override { return "FHIR " + config_.base_url; }

  // The identifier system to search for a patient of this IssuerOfPatientID: the default system
  // for an empty issuer, issuer_systems' entry otherwise; false for an issuer not listed there.
  bool system_for(const std::string& issuer, std::string& system) const;

 private:
  FhirConfig config_;
  std::string scheme_host_port_;  // "https://emr.example:8443"
  std::string base_path_;         // "/fhir"
};

}  // namespace ossa::emr
