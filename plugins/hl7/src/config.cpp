#include "config.h"

#include <arpa/inet.h>

#include <set>

#include <nlohmann/json.hpp>

#include "charset.h"

namespace ossa::hl7 {
namespace {

bool valid_ip(const std::string& text) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

// An integer option in [low, high]; YAML numbers arrive as JSON numbers, quoted ones as strings.
bool integer(const nlohmann::json& j, const char* key, long long low, long long high,
             long long& out, std::string& error) {
  if (!j.contains(key)) return true;
  const auto& v = j[key];
  long long value = 0;
  if (v.is_number_integer()) {
    value = v.get<long long>();
  } else if (v.is_string()) {
    try {
      size_t used = 0;
      value = std::stoll(v.get<std::string>(), &used);
      if (used != v.get<std::string>().size()) throw std::invalid_argument("trailing text");
    } catch (const std::exception&) {
      error = std::string(key) + " must be an integer";
      return false;
    }
  } else {
    error = std::string(key) + " must be an integer";
    return false;
  }
  if (value < low || value > high) {
    error = std::string(key) + " must be between " + std::to_string(low) + " and " +
            std::to_string(high);
    return false;
  }
  out = value;
  return true;
}

bool text(const nlohmann::json& j, const char* key, std::string& out, std::string& error) {
  if (!j.contains(key)) return true;
  if (!j[key].is_string()) {
    error = std::string(key) + " must be a string";
    return false;
  }
  out = j[key].get<std::string>();
  return true;
}

}  // namespace

bool parse_config(const std::string& json, Hl7Config& c, std::string& error) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json);
  } catch (const std::exception& e) {
    error = std::string("not JSON: ") + e.what();
    return false;
  }
  if (j.is_null()) j = nlohmann::json::object();
  if (!j.is_object()) {
    error = "the configuration must be a mapping";
    return false;
  }
  static const std::set<std::string> known = {"port",
                                              "bind",
                                              "allowed_peers",
                                              "state_dir",
                                              "max_message_bytes",
                                              "idle_timeout_seconds",
                                              "max_connections",
                                              "application",
                                              "default_charset",
                                              "patient_id_authority",
                                              "scheduled_station_aet",
                                              "journal_keep_days"};
  for (const auto& [key, value] : j.items()) {
    if (!known.count(key)) {
      error = "unknown key '" + key + "'";
      return false;
    }
  }
  long long port = c.listener.port,
            max_bytes = static_cast<long long>(c.listener.max_message_bytes),
            idle = c.listener.idle_timeout_seconds,
            max_conn = static_cast<long long>(c.listener.max_connections),
            keep = c.journal_keep_days;
  if (!integer(j, "port", 0, 65535, port, error) ||
      !integer(j, "max_message_bytes", 1024, 64LL * 1024 * 1024, max_bytes, error) ||
      !integer(j, "idle_timeout_seconds", 1, 86400, idle, error) ||
      !integer(j, "max_connections", 1, 1024, max_conn, error) ||
      !integer(j, "journal_keep_days", 0, 36500, keep, error))
    return false;
  c.listener.port = static_cast<uint16_t>(port);
  c.listener.max_message_bytes = static_cast<size_t>(max_bytes);
  c.listener.idle_timeout_seconds = static_cast<int>(idle);
  c.listener.max_connections = static_cast<size_t>(max_conn);
  c.journal_keep_days = static_cast<int>(keep);
  if (!text(j, "bind", c.listener.bind, error) || !text(j, "state_dir", c.state_dir, error) ||
      !text(j, "application", c.processor.application, error) ||
      !text(j, "default_charset", c.processor.default_charset, error) ||
      !text(j, "patient_id_authority", c.processor.mapping.patient_id_authority, error) ||
      !text(j, "scheduled_station_aet", c.processor.mapping.scheduled_station_aet, error))
    return false;
  if (j.contains("allowed_peers")) {
    const auto& peers = j["allowed_peers"];
    if (!peers.is_array() && !peers.is_null()) {
      error = "allowed_peers must be a list of IP addresses";
      return false;
    }
    c.listener.allowed_peers.clear();
    if (peers.is_array()) {
      for (const auto& p : peers) {
        if (!p.is_string() || !valid_ip(p.get<std::string>())) {
          error = "allowed_peers: '" + (p.is_string() ? p.get<std::string>() : p.dump()) +
                  "' is not an IP address";
          return false;
        }
        c.listener.allowed_peers.push_back(p.get<std::string>());
      }
    }
  }
  if (c.state_dir.empty()) {
    error = "state_dir is required (the folder of the message journal)";
    return false;
  }
  if (!iconv_charset(c.processor.default_charset)) {
    error = "default_charset '" + c.processor.default_charset +
            "' is not an HL7 character set (table 0211)";
    return false;
  }
  return true;
}

}  // namespace ossa::hl7
