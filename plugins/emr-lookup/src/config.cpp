#include "config.h"

#include <cstdlib>
#include <initializer_list>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace ossa::emr {
namespace {

using Json = nlohmann::json;

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void only_keys(const Json& object, const std::string& where,
               std::initializer_list<const char*> allowed) {
  const std::set<std::string> known(allowed.begin(), allowed.end());
  for (const auto& [key, value] : object.items()) {
    if (!known.count(key)) throw ConfigError(where + ": unknown key '" + key + "'");
  }
}

const Json& object_at(const Json& parent, const char* key, const std::string& where) {
  const Json& value = parent.at(key);
  if (!value.is_object()) throw ConfigError(where + "." + key + " must be an object");
  return value;
}

std::string text(const Json& parent, const char* key, const std::string& where,
                 const std::string& fallback = "") {
  const auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return fallback;
  if (!it->is_string()) throw ConfigError(where + key + " must be a string");
  return it->get<std::string>();
}

bool flag(const Json& parent, const char* key, const std::string& where, bool fallback) {
  const auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw ConfigError(where + key + " must be true or false");
  return it->get<bool>();
}

int64_t number(const Json& parent, const char* key, const std::string& where, int64_t fallback,
               int64_t low, int64_t high) {
  const auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return fallback;
  int64_t value = 0;
  if (it->is_number_integer()) {
    value = it->get<int64_t>();
  } else if (it->is_string()) {
    // YAML scalars may arrive as text ("2000"); hex is accepted for statuses ("0xA700").
    const std::string s = it->get<std::string>();
    size_t used = 0;
    try {
      value = std::stoll(s, &used, 0);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != s.size()) throw ConfigError(where + key + " must be a number");
  } else {
    throw ConfigError(where + key + " must be a number");
  }
  if (value < low || value > high) {
    throw ConfigError(where + key + " must be between " + std::to_string(low) + " and " +
                      std::to_string(high));
  }
  return value;
}

void parse_fhir(const Json& j, FhirConfig& fhir) {
  const std::string where = "fhir.";
  only_keys(j, "fhir",
            {"base_url", "identifier_system", "issuer_systems", "bearer_token", "bearer_token_env",
             "ca_file", "verify_tls"});
  fhir.base_url = text(j, "base_url", where);
  const bool http = fhir.base_url.rfind("http://", 0) == 0;
  const bool https = fhir.base_url.rfind("https://", 0) == 0;
  if (!http && !https) throw ConfigError("fhir.base_url must start with http:// or https://");
  if (fhir.base_url.size() <= std::string(https ? "https://" : "http://").size())
    throw ConfigError("fhir.base_url has no host");
  fhir.identifier_system = text(j, "identifier_system", where);
  if (j.contains("issuer_systems")) {
    const Json& map = object_at(j, "issuer_systems", "fhir");
    for (const auto& [issuer, system] : map.items()) {
      if (!system.is_string() || system.get<std::string>().empty())
        throw ConfigError("fhir.issuer_systems." + issuer + " must be a non-empty string");
      fhir.issuer_systems[issuer] = system.get<std::string>();
    }
  }
  fhir.bearer_token = text(j, "bearer_token", where);
  const std::string env = text(j, "bearer_token_env", where);
  if (!env.empty()) {
    if (!fhir.bearer_token.empty())
      throw ConfigError("fhir: give bearer_token or bearer_token_env, not both");
    const char* value = std::getenv(env.c_str());
    if (value == nullptr || *value == '\0')
      throw ConfigError("fhir.bearer_token_env: the environment variable " + env + " is not set");
    fhir.bearer_token = value;
  }
  if (fhir.bearer_token.find_first_of("\r\n") != std::string::npos)
    throw ConfigError("fhir: the bearer token contains a line break");
  fhir.ca_file = text(j, "ca_file", where);
  fhir.verify_tls = flag(j, "verify_tls", where, true);
}

void parse_sql(const Json& j, SqlConfig& sql) {
  only_keys(j, "sql", {"conninfo", "query"});
  sql.conninfo = text(j, "conninfo", "sql.");
  sql.query = text(j, "query", "sql.");
  if (sql.query.empty()) throw ConfigError("sql.query is required");
  if (sql.query.find("$1") == std::string::npos)
    throw ConfigError("sql.query must use the parameter $1 (the Patient ID)");
}

void parse_coerce(const Json& j, CoercedAttributes& coerce) {
  if (!j.is_array()) throw ConfigError("coerce must be a list of keywords");
  coerce = CoercedAttributes{false, false, false, false};
  for (const auto& item : j) {
    const std::string k = item.is_string() ? item.get<std::string>() : item.dump();
    if (k == "PatientName") {
      coerce.patient_name = true;
    } else if (k == "PatientBirthDate") {
      coerce.birth_date = true;
    } else if (k == "PatientSex") {
      coerce.sex = true;
    } else if (k == "OtherPatientIDs") {
      coerce.other_ids = true;
    } else {
      throw ConfigError("coerce: '" + k +
                        "' is not one of PatientName, PatientBirthDate, PatientSex, "
                        "OtherPatientIDs");
    }
  }
}

}  // namespace

bool parse_config(const std::string& json_text, EmrConfig& config, std::string& error) {
  try {
    const Json j = Json::parse(json_text.empty() ? "{}" : json_text);
    if (!j.is_object()) throw ConfigError("the configuration must be a JSON object");
    only_keys(j, "config",
              {"source", "fhir", "sql", "use_issuer", "timeout_ms", "cache", "on_unreachable",
               "reject_status", "retry_unreachable_after_ms", "coerce"});
    EmrConfig c;
    const std::string source = text(j, "source", "", "");
    if (source == "fhir") {
      c.source = SourceKind::kFhir;
      if (!j.contains("fhir")) throw ConfigError("source fhir needs a fhir: section");
      parse_fhir(object_at(j, "fhir", "config"), c.fhir);
    } else if (source == "sql") {
      c.source = SourceKind::kSql;
      if (!j.contains("sql")) throw ConfigError("source sql needs a sql: section");
      parse_sql(object_at(j, "sql", "config"), c.sql);
    } else {
      throw ConfigError("source must be \"fhir\" or \"sql\"");
    }
    c.use_issuer = flag(j, "use_issuer", "", false);
    c.timeout = std::chrono::milliseconds(number(j, "timeout_ms", "", 2000, 1, 60000));
    if (j.contains("cache")) {
      const Json& cache = object_at(j, "cache", "config");
      only_keys(cache, "cache", {"ttl_seconds", "negative_ttl_seconds", "max_entries"});
      c.positive_ttl = std::chrono::seconds(number(cache, "ttl_seconds", "cache.", 300, 0, 86400));
      c.negative_ttl =
          std::chrono::seconds(number(cache, "negative_ttl_seconds", "cache.", 60, 0, 86400));
      c.cache_entries =
          static_cast<size_t>(number(cache, "max_entries", "cache.", 10000, 0, 10000000));
    }
    const std::string policy = text(j, "on_unreachable", "", "store_unchanged");
    if (policy == "store_unchanged") {
      c.on_unreachable = UnreachablePolicy::kStoreUnchanged;
    } else if (policy == "reject") {
      c.on_unreachable = UnreachablePolicy::kReject;
    } else {
      throw ConfigError("on_unreachable must be store_unchanged or reject");
    }
    // Only the "Refused: Out of Resources" range: a status the sender may retry (README.md).
    c.reject_status = static_cast<uint16_t>(number(j, "reject_status", "", 0xA700, 0xA700, 0xA7FF));
    c.retry_unreachable_after =
        std::chrono::milliseconds(number(j, "retry_unreachable_after_ms", "", 5000, 0, 3600000));
    if (j.contains("coerce")) parse_coerce(j.at("coerce"), c.coerce);
    config = std::move(c);
    return true;
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
}

}  // namespace ossa::emr
