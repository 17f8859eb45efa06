#pragma once
// One logger for the whole server: timestamped lines on standard error (journald picks them up),
// safe to call from any thread. Kept deliberately small: a PACS log is read by hospital IT, so each
// line should say what happened and to whom, in one line.

#include <sstream>
#include <string>

namespace ossa::log {

enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void set_level(Level level);
Level level();
bool enabled(Level level);
void write(Level level, const std::string& message);

// Quiets DCMTK's own logger (it prints every association at INFO by default) to warnings and
// errors, or to everything at debug level.
void configure_dcmtk(Level level);

namespace detail {
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

template <typename... Parts>
void debug(const Parts&... parts) {
  if (enabled(Level::kDebug)) write(Level::kDebug, detail::concat(parts...));
}
template <typename... Parts>
void info(const Parts&... parts) {
  if (enabled(Level::kInfo)) write(Level::kInfo, detail::concat(parts...));
}
template <typename... Parts>
void warning(const Parts&... parts) {
  if (enabled(Level::kWarning)) write(Level::kWarning, detail::concat(parts...));
}
template <typename... Parts>
void error(const Parts&... parts) {
  write(Level::kError, detail::concat(parts...));
}

}  // namespace ossa::log
