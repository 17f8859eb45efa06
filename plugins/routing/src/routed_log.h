#pragma once
// What the plugin already queued on stable studies, kept across restarts so that a study seen
// stable again after a restart is not sent twice to the same node. (Sends queued from on_stored
// need no record here: the host ties them to their event, see queue_send in ossa/plugin.h.)
//
// Records are text lines ("<SOP Instance UID>|<node>", "STUDY:<UID>|<node>|<instances>") appended
// to <state_dir>/routed.log and, with fsync on, fdatasync'ed before add() returns. When the file
// holds `max_records` lines it becomes routed.1.log (replacing the previous generation) and a new
// routed.log starts: at most 2 x max_records records are kept, in memory and on disk. Redelivery
// only concerns the last events before a stop, so old records are not needed.
// A line cut short by a crash is dropped at open. Without a state dir the records live in memory
// only (idempotent until the server stops). Thread-safe.

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

namespace ossa::routing {

class RoutedLog {
 public:
  RoutedLog() = default;
  ~RoutedLog();
  RoutedLog(const RoutedLog&) = delete;
  RoutedLog& operator=(const RoutedLog&) = delete;

  // Creates `dir` when missing, loads both generations. dir "" = memory only.
  bool open(const std::string& dir, size_t max_records, bool fsync, std::string& error);
  void close();

  bool contains(const std::string& record) const;
  // Appends the records (one write, then fdatasync); false with a message on an I/O error (the
  // records are still remembered in memory).
  bool add(const std::vector<std::string>& records, std::string& error);
  size_t size() const;
  bool durable() const { return fd_ >= 0; }

 private:
  bool rotate(std::string& error);
  bool open_current(std::string& error);

  mutable std::mutex mutex_;
  std::string dir_;
  size_t max_records_ = 100000;
  bool fsync_ = true;
  int fd_ = -1;
  std::unordered_set<std::string> current_, previous_;
};

}  // namespace ossa::routing
