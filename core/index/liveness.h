#pragma once
// Is the index answering right now? The check behind GET /testdbalive and so behind the watchdog:
// it must fail, never hang and never pass by luck, when the index cannot serve a read.

#include <chrono>
#include <filesystem>
#include <string>

namespace ossa::index {

struct Liveness {
  bool alive = false;
  std::string reason;  // why not, for the answer and the log; empty when alive
};

// Opens a connection of its own to `file` (read-only, so no page cached by the server's
// connections can hide a damaged or replaced file) and runs prepared reads of the schema and of the
// instances table. A lock held by another connection makes it wait at most `busy_timeout`, then
// report the lock instead of blocking the caller.
Liveness probe_index(const std::filesystem::path& file, std::chrono::milliseconds busy_timeout);

}  // namespace ossa::index
