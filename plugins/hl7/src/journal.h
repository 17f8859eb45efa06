#pragma once
// The plugin's durable journal: every identifiable message, recorded before it is applied and
// completed with its acknowledgement before that is sent; and the merges applied (for ADT A40
// repeated / reversed / circular merges). SQLite in WAL mode. record() and add_merge() commit
// without fsync (they survive a crash of the process: the WAL is written); complete() commits
// with synchronous=FULL, which puts the whole WAL, the record included, on disk before it
// returns. A power loss between the two loses a record whose ACK was never sent.
//
// A message is keyed by its sender (MSH-3 and MSH-4 as received) and control ID (MSH-10).
//
// Thread safety: all methods lock one mutex; one connection to the file.
// Invariants: db_ is open between a successful open() and close().

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace ossa::hl7 {

struct JournalEntry {
  int64_t id = 0;
  std::string ack_code;  // "" while the message was recorded but not completed (a crash)
  std::string ack_text;
  std::string ack;  // the ACK sent (UTF-8)
  std::string received_at;
};

struct MergeRecord {
  std::string old_id, new_id, at;
  std::string control_id;
};

class Journal {
 public:
  Journal() = default;
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Opens (creates) <dir>/hl7-journal.db, creating `dir` when missing.
  bool open(const std::string& dir, std::string& error);
  void close();

  std::optional<JournalEntry> find(const std::string& sender, const std::string& control_id);
  // Records a message (or, for a known key, leaves the row and returns its id). Survives a
  // process crash on return; on disk with the next complete().
  // Returns 0 with `error` set on failure.
  int64_t record(const std::string& sender, const std::string& control_id,
                 const std::string& message_type, const std::string& peer, const std::string& raw,
                 std::string& error);
  // Stores the outcome and the ACK sent for it. Durable on return.
  bool complete(int64_t id, const std::string& ack_code, const std::string& ack_text,
                const std::string& ack, std::string& error);

  // Merges: appended by apply_merge; read to recognise repeated, reversed and circular merges.
  bool add_merge(const std::string& old_id, const std::string& new_id, int64_t message_id,
                 std::string& error);
  // The most recent merge of `old_id` into something, if any.
  std::optional<MergeRecord> last_merge_of(const std::string& old_id);
  // The most recent merge old_id -> new_id, if any.
  std::optional<MergeRecord> merge(const std::string& old_id, const std::string& new_id);

  // Deletes completed messages older than `days`; returns how many.
  int64_t prune(int days);
  int64_t count();

 private:
  bool exec(const char* sql, std::string& error);

  std::mutex mutex_;
  sqlite3* db_ = nullptr;  // guarded by mutex_
};

}  // namespace ossa::hl7
