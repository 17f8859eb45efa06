#pragma once
// The current time as the index records it: UTC, ISO 8601, to the second.

#include <ctime>
#include <string>

namespace ossa::util {

inline std::string now_utc_iso8601() {
  const std::time_t t = std::time(nullptr);
  std::tm parts{};
  gmtime_r(&t, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

}  // namespace ossa::util
