#include "entry_store.h"

#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace ossa::worklist {
namespace {

using Json = nlohmann::json;

// One prepared statement, finalized on every path.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("worklist database: ") + sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, const std::string& text) {
    sqlite3_bind_text(stmt_, index, text.c_str(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int index, int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
  }
  // True while there is a row.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw std::runtime_error(std::string("worklist database: ") + sqlite3_errmsg(db_));
  }
  int step_status() { return sqlite3_step(stmt_); }
  std::string text(int column) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, column))) : "";
  }
  int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

std::string to_json(const Attributes& attributes) {
  Json object = Json::object();
  for (const auto& [key, value] : attributes) object[key] = value;
  return object.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Attributes from_json(const std::string& text) {
  Attributes attributes;
  const Json object = Json::parse(text, nullptr, false);
  if (!object.is_object()) return attributes;
  for (const auto& [key, value] : object.items()) {
    if (value.is_string()) attributes[key] = value.get<std::string>();
  }
  return attributes;
}

std::string attribute(const Attributes& attributes, const char* key) {
  const auto it = attributes.find(key);
  return it == attributes.end() ? "" : it->second;
}

constexpr const char* kColumns = "id, order_id, status, created, attributes";

Entry read_entry(const Statement& s) {
  Entry e;
  e.id = s.integer(0);
  e.order_id = s.text(1);
  e.status = s.text(2);
  e.created = s.integer(3);
  e.attributes = from_json(s.text(4));
  return e;
}

}  // namespace

EntryStore::EntryStore(const std::string& path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    const std::string error = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("cannot open " + path + ": " + error);
  }
  try {
    sqlite3_busy_timeout(db_, 5000);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec(
        "CREATE TABLE IF NOT EXISTS entries("
        " id INTEGER PRIMARY KEY,"
        " order_id TEXT NOT NULL UNIQUE,"
        " status TEXT NOT NULL,"
        " created INTEGER NOT NULL,"
        " study_instance_uid TEXT NOT NULL DEFAULT '',"
        " accession_number TEXT NOT NULL DEFAULT '',"
        " attributes TEXT NOT NULL)");
    exec("CREATE INDEX IF NOT EXISTS entries_status ON entries(status, created)");
    exec("CREATE INDEX IF NOT EXISTS entries_study ON entries(study_instance_uid)");
    exec("CREATE INDEX IF NOT EXISTS entries_accession ON entries(accession_number)");
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

EntryStore::~EntryStore() {
  sqlite3_close(db_);
}

void EntryStore::exec(const char* sql) {
  Statement s(db_, sql);
  while (s.step()) {
  }
}

std::optional<int64_t> EntryStore::add(const std::string& order_id, const Attributes& attributes,
                                       int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement s(db_,
              "INSERT INTO entries(order_id, status, created, study_instance_uid, "
              "accession_number, attributes) VALUES(?, 'SCHEDULED', ?, ?, ?, ?)");
  s.bind(1, order_id)
      .bind(2, now)
      .bind(3, attribute(attributes, "StudyInstanceUID"))
      .bind(4, attribute(attributes, "AccessionNumber"))
      .bind(5, to_json(attributes));
  const int rc = s.step_status();
  if (rc == SQLITE_CONSTRAINT) return std::nullopt;
  if (rc != SQLITE_DONE)
    throw std::runtime_error(std::string("worklist database: ") + sqlite3_errmsg(db_));
  return sqlite3_last_insert_rowid(db_);
}

bool EntryStore::replace(const std::string& order_id, const Attributes& attributes) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement s(db_,
              "UPDATE entries SET study_instance_uid = ?, accession_number = ?, attributes = ? "
              "WHERE order_id = ?");
  s.bind(1, attribute(attributes, "StudyInstanceUID"))
      .bind(2, attribute(attributes, "AccessionNumber"))
      .bind(3, to_json(attributes))
      .bind(4, order_id);
  s.step();
  return sqlite3_changes(db_) > 0;
}

std::optional<Entry> EntryStore::get(const std::string& order_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement s(db_,
              (std::string("SELECT ") + kColumns + " FROM entries WHERE order_id = ?").c_str());
  s.bind(1, order_id);
  if (!s.step()) return std::nullopt;
  return read_entry(s);
}

int EntryStore::remove(const std::string& order_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement s(db_, "DELETE FROM entries WHERE order_id = ?");
  s.bind(1, order_id);
  s.step();
  return sqlite3_changes(db_);
}

std::vector<Entry> EntryStore::list(const std::string& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement s(db_, (std::string("SELECT ") + kColumns +
                    " FROM entries WHERE ?1 = '' OR status = ?1 ORDER BY id")
                       .c_str());
  s.bind(1, status);
  std::vector<Entry> entries;
  while (s.step()) entries.push_back(read_entry(s));
  return entries;
}

std::vector<std::string> EntryStore::complete(const std::string& study_instance_uid,
                                              const std::string& accession_number) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> completed;
  Statement select(db_,
                   "SELECT order_id FROM entries WHERE status = 'SCHEDULED' AND "
                   "((?1 <> '' AND study_instance_uid = ?1) OR "
                   " (?2 <> '' AND accession_number = ?2))");
  select.bind(1, study_instance_uid).bind(2, accession_number);
  while (select.step()) completed.push_back(select.text(0));
  for (const std::string& order_id : completed) {
    Statement update(db_, "UPDATE entries SET status = 'COMPLETED' WHERE order_id = ?");
    update.bind(1, order_id);
    update.step();
  }
  return completed;
}

int EntryStore::expire(int64_t created_before) {
  std::lock_guard<std::mutex> lock(mutex_);
  Statement s(db_,
              "UPDATE entries SET status = 'EXPIRED' WHERE status = 'SCHEDULED' AND created < ?");
  s.bind(1, created_before);
  s.step();
  return sqlite3_changes(db_);
}

}  // namespace ossa::worklist
