#include "journal.h"

#include <sqlite3.h>

#include <ctime>
#include <filesystem>

namespace ossa::hl7 {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS messages(
  id INTEGER PRIMARY KEY,
  sender TEXT NOT NULL,              -- MSH-3 and MSH-4 as received, joined by '|'
  control_id TEXT NOT NULL,          -- MSH-10
  message_type TEXT NOT NULL,        -- MSH-9
  peer TEXT NOT NULL,                -- the sender's address
  received_at TEXT NOT NULL,         -- UTC, ISO 8601
  raw BLOB NOT NULL,                 -- the message as received (its own character set)
  ack_code TEXT NOT NULL DEFAULT '', -- AA | AE | AR once completed
  ack_text TEXT NOT NULL DEFAULT '',
  ack BLOB,
  completed_at TEXT,
  UNIQUE(sender, control_id)
);
CREATE TABLE IF NOT EXISTS merges(
  id INTEGER PRIMARY KEY,
  old_id TEXT NOT NULL,
  new_id TEXT NOT NULL,
  message_fk INTEGER NOT NULL,
  at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS merges_old ON merges(old_id);
)sql";

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// One prepared statement, finalized when it goes out of scope.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  [[nodiscard]] bool ok() const { return stmt_ != nullptr; }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind_blob(int i, const std::string& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  int step() { return stmt_ ? sqlite3_step(stmt_) : SQLITE_ERROR; }
  [[nodiscard]] std::string text(int i) const {
    const auto* p = sqlite3_column_blob(stmt_, i);
    const int n = sqlite3_column_bytes(stmt_, i);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
  }
  [[nodiscard]] int64_t int64(int i) const { return sqlite3_column_int64(stmt_, i); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace

Journal::~Journal() {
  close();
}

void Journal::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (db_ != nullptr) sqlite3_close(db_);
  db_ = nullptr;
}

bool Journal::exec(const char* sql, std::string& error) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    error = message ? message : "sqlite error";
    sqlite3_free(message);
    return false;
  }
  return true;
}

bool Journal::open(const std::string& dir, std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    error = "cannot create the state dir " + dir + ": " + ec.message();
    return false;
  }
  const std::string path = dir + "/hl7-journal.db";
  if (sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    error = "cannot open " + path + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory");
    sqlite3_close(db_);
    db_ = nullptr;
    return false;
  }
  sqlite3_busy_timeout(db_, 5000);
  if (!exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", error) || !exec(kSchema, error)) {
    error = path + ": " + error;
    sqlite3_close(db_);
    db_ = nullptr;
    return false;
  }
  return true;
}

std::optional<JournalEntry> Journal::find(const std::string& sender,
                                          const std::string& control_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (db_ == nullptr) return std::nullopt;
  Statement q(db_,
              "SELECT id, ack_code, ack_text, ack, received_at FROM messages "
              "WHERE sender = ? AND control_id = ?");
  q.bind(1, sender).bind(2, control_id);
  if (q.step() != SQLITE_ROW) return std::nullopt;
  return JournalEntry{q.int64(0), q.text(1), q.text(2), q.text(3), q.text(4)};
}

int64_t Journal::record(const std::string& sender, const std::string& control_id,
                        const std::string& message_type, const std::string& peer,
                        const std::string& raw, std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (db_ == nullptr) {
    error = "the journal is closed";
    return 0;
  }
  // The record only has to survive a crash of the process until the outcome is committed (a
  // write to the WAL without fsync does); complete() then commits with an fsync that makes both
  // durable before the ACK is sent. One fsync per message instead of two.
  std::string pragma_error;
  exec("PRAGMA synchronous=NORMAL", pragma_error);
  Statement insert(db_,
                   "INSERT INTO messages(sender, control_id, message_type, peer, received_at, raw) "
                   "VALUES(?,?,?,?,?,?) ON CONFLICT(sender, control_id) DO UPDATE SET "
                   "ack_code = '', received_at = excluded.received_at RETURNING id");
  insert.bind(1, sender).bind(2, control_id).bind(3, message_type).bind(4, peer);
  insert.bind(5, now_iso()).bind_blob(6, raw);
  if (insert.step() != SQLITE_ROW) {
    error = std::string("journal insert: ") + sqlite3_errmsg(db_);
    return 0;
  }
  const int64_t id = insert.int64(0);
  if (insert.step() != SQLITE_DONE) {
    error = std::string("journal insert: ") + sqlite3_errmsg(db_);
    return 0;
  }
  return id;
}

bool Journal::complete(int64_t id, const std::string& ack_code, const std::string& ack_text,
                       const std::string& ack, std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (db_ == nullptr) {
    error = "the journal is closed";
    return false;
  }
  if (!exec("PRAGMA synchronous=FULL", error)) return false;
  Statement update(db_,
                   "UPDATE messages SET ack_code = ?, ack_text = ?, ack = ?, completed_at = ? "
                   "WHERE id = ?");
  update.bind(1, ack_code).bind(2, ack_text).bind_blob(3, ack).bind(4, now_iso()).bind(5, id);
  if (update.step() != SQLITE_DONE) {
    error = std::string("journal update: ") + sqlite3_errmsg(db_);
    return false;
  }
  return true;
}

bool Journal::add_merge(const std::string& old_id, const std::string& new_id, int64_t message_id,
                        std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (db_ == nullptr) {
    error = "the journal is closed";
    return false;
  }
  Statement insert(db_, "INSERT INTO merges(old_id, new_id, message_fk, at) VALUES(?,?,?,?)");
  insert.bind(1, old_id).bind(2, new_id).bind(3, message_id).bind(4, now_iso());
  if (insert.step() != SQLITE_DONE) {
    error = std::string("journal merge: ") + sqlite3_errmsg(db_);
    return false;
  }
  return true;
}

std::optional<MergeRecord> Journal::last_merge_of(const std::string& old_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (db_ == nullptr) return std::nullopt;
  Statement q(db_,
              "SELECT m.old_id, m.new_id, m.at, COALESCE(x.control_id, '') FROM merges m "
              "LEFT JOIN messages x ON x.id = m.message_fk WHERE m.old_id = ? "
              "ORDER BY m.id DESC LIMIT 1");
  q.bind(1, old_id);
  if (q.step() != SQLITE_ROW) return std::nullopt;
  return MergeRecord{q.text(0), q.text(1), q.text(2), q.text(3)};
}

std::optional<MergeRecord> Journal::merge(const std::string& old_id, const std::string& new_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (db_ == nullptr) return std::nullopt;
  Statement q(db_,
              "SELECT m.old_id, m.new_id, m.at, COALESCE(x.control_id, '') FROM merges m "
              "LEFT JOIN messages x ON x.id = m.message_fk WHERE m.old_id = ? AND m.new_id = ? "
              "ORDER BY m.id DESC LIMIT 1");
  q.bind(1, old_id).bind(2, new_id);
  if (q.step() != SQLITE_ROW) return std::nullopt;
  return MergeRecord{q.text(0), q.text(1), q.text(2), q.text(3)};
}

int64_t Journal::prune(int days) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (db_ == nullptr || days <= 0) return 0;
  const std::time_t limit = std::time(nullptr) - static_cast<std::time_t>(days) * 86400;
  std::tm tm{};
  gmtime_r(&limit, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  Statement del(db_, "DELETE FROM messages WHERE ack_code <> '' AND completed_at < ?");
  del.bind(1, std::string(text));
  if (del.step() != SQLITE_DONE) return 0;
  return sqlite3_changes(db_);
}

int64_t Journal::count() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (db_ == nullptr) return 0;
  Statement q(db_, "SELECT COUNT(*) FROM messages");
  return q.step() == SQLITE_ROW ? q.int64(0) : 0;
}

}  // namespace ossa::hl7
