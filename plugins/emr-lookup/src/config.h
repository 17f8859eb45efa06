#pragma once
// The plugin's configuration (the `config:` of its entry in ossa.yaml, as JSON). README.md
// describes every key; parse_config refuses unknown keys and bad values with a message.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ossa::emr {

enum class SourceKind { kFhir, kSql };
enum class UnreachablePolicy { kStoreUnchanged, kReject };

struct FhirConfig {
  std::string base_url;                               // http(s)://host[:port][/path]
  std::string identifier_system;                      // for instances without IssuerOfPatientID
  std::map<std::string, std::string> issuer_systems;  // IssuerOfPatientID -> identifier system
  std::string bearer_token;                           // sent as "Authorization: Bearer ..."
  std::string ca_file;                                // HTTPS: trusted CAs (PEM); system's if empty
  bool verify_tls = true;
};

struct SqlConfig {
  std::string conninfo;  // libpq connection string
  std::string query;  // parameterised: $1 = PatientID (and $2 = IssuerOfPatientID with use_issuer)
};

// The attributes the plugin may coerce (all four by default).
struct CoercedAttributes {
  bool patient_name = true;
  bool birth_date = true;
  bool sex = true;
  bool other_ids = true;
};

struct EmrConfig {
  SourceKind source = SourceKind::kFhir;
  FhirConfig fhir;
  SqlConfig sql;
  bool use_issuer = false;  // read IssuerOfPatientID (0010,0021) and look up with it
  std::chrono::milliseconds timeout{2000};
  std::chrono::milliseconds positive_ttl{std::chrono::minutes(5)};
  std::chrono::milliseconds negative_ttl{std::chrono::minutes(1)};
  size_t cache_entries = 10000;
  UnreachablePolicy on_unreachable = UnreachablePolicy::kStoreUnchanged;
  uint16_t reject_status = 0xA700;
  // After an unreachable answer, instances do not wait for the EMR again for this long: the policy
  // applies at once (a study of 500 instances does not pay 500 timeouts). 0 = always ask.
  std::chrono::milliseconds retry_unreachable_after{5000};
  CoercedAttributes coerce;
};

// Parses the JSON text; false with `error` on a bad configuration.
bool parse_config(const std::string& json_text, EmrConfig& config, std::string& error);

}  // namespace ossa::emr
