#include "fhir_source.h"

#include <httplib.h>

#include <stdexcept>

#include "fhir_mapping.h"

namespace ossa::emr {

FhirSource::FhirSource(FhirConfig config) : config_(std::move(config)) {
  const std::string& url = config_.base_url;
  const size_t host_start = url.find("://");
  if (host_start == std::string::npos) throw std::invalid_argument("no scheme in " + url);
  const size_t path_start = url.find('/', host_start + 3);
  scheme_host_port_ = url.substr(0, path_start);
  base_path_ = path_start == std::string::npos ? "" : url.substr(path_start);
  if (base_path_.find_first_of("?#") != std::string::npos)
    throw std::invalid_argument("fhir.base_url must not have a query or fragment: " + url);
  const bool https = url.rfind("https://", 0) == 0;
  if (https) {
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
    throw std::invalid_argument("this build has no HTTPS support (cpp-httplib without OpenSSL)");
#endif
  }
  httplib::Client probe(scheme_host_port_);  // parses scheme, host and port
  if (!probe.is_valid()) throw std::invalid_argument("fhir.base_url is not usable: " + url);
}

bool FhirSource::system_for(const std::string& issuer, std::string& system) const {
  if (issuer.empty()) {
    system = config_.identifier_system;
    return true;
  }
  const auto it = config_.issuer_systems.find(issuer);
  if (it == config_.issuer_systems.end()) return false;
  system = it->second;
  return true;
}

LookupResult FhirSource::lookup(const PatientKey& key, std::chrono::milliseconds timeout) {
  std::string system;
  if (!system_for(key.issuer, system)) {
    return LookupResult::not_found("issuer '" + key.issuer +
                                   "' has no identifier system (fhir.issuer_systems)");
  }
  try {
    httplib::Client client(scheme_host_port_);
    // Each phase gets the whole budget: httplib has no overall deadline (README.md).
    client.set_connection_timeout(timeout);
    client.set_read_timeout(timeout);
    client.set_write_timeout(timeout);
    client.set_keep_alive(false);
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
    if (!config_.ca_file.empty()) client.set_ca_cert_path(config_.ca_file);
    client.enable_server_certificate_verification(config_.verify_tls);
#endif
    if (!config_.bearer_token.empty()) client.set_bearer_token_auth(config_.bearer_token);
    const httplib::Headers headers = {{"Accept", "application/fhir+json, application/json"}};
    const std::string path = fhir_search_path(base_path_, system, key.patient_id);
    const auto response = client.Get(path, headers);
    if (!response) {
      return LookupResult::unreachable("GET " + path + ": " + httplib::to_string(response.error()));
    }
    if (response->status != 200) {
      return LookupResult::unreachable("GET " + path + ": HTTP " +
                                       std::to_string(response->status));
    }
    LookupResult result = map_search_bundle(response->body, system, key.patient_id);
    if (!result.detail.empty()) result.detail = "GET " + path + ": " + result.detail;
    return result;
  } catch (const std::exception& e) {
    return LookupResult::unreachable(std::string("FHIR look-up failed: ") + e.what());
  }
}

}  // namespace ossa::emr
