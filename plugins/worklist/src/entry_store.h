#pragma once
// The worklist's entries, kept in their own SQLite database (<state_dir>/worklist.db, WAL): one
// row per order (placer order number), its status, when it was created, and its attributes as a
// JSON object keyword -> string. Every statement is prepared. Thread-safe (one connection behind
// a mutex: worklists are small and each call is short).

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace ossa::worklist {

using Attributes = std::map<std::string, std::string>;  // keyword -> UTF-8 value

struct Entry {
  int64_t id = 0;
  std::string order_id;
  std::string status;   // SCHEDULED, COMPLETED, EXPIRED
  int64_t created = 0;  // unix seconds
  Attributes attributes;
};

class EntryStore {
 public:
  // Opens (creating when missing) `path`. Throws std::runtime_error with SQLite's message.
  explicit EntryStore(const std::string& path);
  ~EntryStore();
  EntryStore(const EntryStore&) = delete;
  EntryStore& operator=(const EntryStore&) = delete;

  // Adds a SCHEDULED entry; nullopt when `order_id` is taken. Returns its id.
  std::optional<int64_t> add(const std::string& order_id, const Attributes& attributes,
                             int64_t now);
  // Replaces the attributes of an entry; false when there is none with this order id.
  bool replace(const std::string& order_id, const Attributes& attributes);
  std::optional<Entry> get(const std::string& order_id);
  // Deletes an entry; returns how many rows went (0 or 1).
  int remove(const std::string& order_id);
  // All entries (any status), or only those with `status`, in id order.
  std::vector<Entry> list(const std::string& status = "");
  // SCHEDULED entries whose Study Instance UID or (non-empty) Accession Number is given become
  // COMPLETED. Returns their order ids.
  std::vector<std::string> complete(const std::string& study_instance_uid,
                                    const std::string& accession_number);
  // SCHEDULED entries created before `created_before` become EXPIRED; returns how many.
  int expire(int64_t created_before);

 private:
  void exec(const char* sql);

  std::mutex mutex_;
  sqlite3* db_ = nullptr;
};

}  // namespace ossa::worklist
