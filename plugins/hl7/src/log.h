#pragma once
// Log levels and the logging callback the plugin's parts share (the plugin forwards them to the
// host's log, which prefixes the plugin's name).

#include <functional>
#include <string>

namespace ossa::hl7 {

enum class LogLevel { kDebug, kInfo, kWarning, kError };
using LogFn = std::function<void(LogLevel, const std::string&)>;

}  // namespace ossa::hl7
