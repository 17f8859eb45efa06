#pragma once
// Thin RAII layer over the SQLite C API: a connection, a prepared statement, a transaction.
// Every statement in Ossa is prepared and bound; no SQL text is ever built from input values.

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "index/error.h"

namespace ossa::index::sql {

// An SQLite failure, with its (extended) result code for the backend's own use. It is an
// index::Error, so callers above the interface see only the neutral type and its flags.
class Error : public index::Error {
 public:
  Error(int code, const std::string& message)
      : index::Error(message, is_busy(code), (code & 0xff) == SQLITE_FULL), code_(code) {}
  int code() const { return code_; }

 private:
  // Another connection holds a lock the busy timeout did not outwait.
  static bool is_busy(int code) {
    return (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED;
  }
  int code_;
};

class Statement;

class Database {
 public:
  // Opens (creating if needed) with WAL, synchronous=FULL and a busy timeout, so several processes
  // (the server and `ossa import`) can share one index safely.
  explicit Database(const std::filesystem::path& file, bool read_only = false);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(const char* sql);  // for fixed SQL only (schema, pragmas, BEGIN/COMMIT)
  Statement prepare(const std::string& sql);
  // Prepared once per connection and reused: the statement is reset before it is returned.
  Statement& cached(const char* sql);
  // Resets every statement of this connection, ending the read transaction a statement that was
  // stepped but not finished keeps open (which would pin an old snapshot of the index).
  void reset_all();
  sqlite3* handle() { return db_; }
  int64_t last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
  int changes() const { return sqlite3_changes(db_); }

 private:
  sqlite3* db_ = nullptr;
  struct Cache;
  std::unique_ptr<Cache> cache_;
};

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql);
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;

  Statement& bind(int index, const std::string& value);
  Statement& bind(int index, int64_t value);
  Statement& bind_null(int index);
  // Steps once: true while a row is available.
  bool step();
  // Steps to completion, for INSERT/UPDATE/DELETE.
  void run();
  void reset();

  bool is_null(int column) const;
  int64_t int64(int column) const;
  std::string text(int column) const;
  // The column's text without a copy; valid until the next step, reset or column call.
  std::string_view text_view(int column) const;
  std::optional<std::string> optional_text(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back if destroyed without commit().
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  void commit();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace ossa::index::sql
