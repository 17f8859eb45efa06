// The SQLite backend's /testdbalive check (SqliteIndex::probe, see index/sqlite_index.h).

#include "index/sqlite_index.h"

#include "index/sqlite.h"

namespace ossa::index {

Liveness SqliteIndex::probe(const std::filesystem::path& file,
                            std::chrono::milliseconds busy_timeout) {
  Liveness result;
  try {
    // Never create the file: a missing index is a failure, not an empty archive.
    if (!std::filesystem::exists(file)) {
      result.reason = "index file " + file.string() + " does not exist";
      return result;
    }
    sql::Database db(file, /*read_only=*/true);
    sqlite3_busy_timeout(db.handle(), static_cast<int>(busy_timeout.count()));
    // Page 1 and the schema: a file that is not (or no longer) a database fails here.
    sql::Statement schema = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = ?");
    schema.bind(1, std::string("table"));
    if (!schema.step() || schema.int64(0) == 0) {
      result.reason = "index has no tables";
      return result;
    }
    schema.reset();
    // A row of the table every query ends in (cheap at any size: one page of its b-tree).
    sql::Statement instances = db.prepare("SELECT count(*) FROM (SELECT 1 FROM instances LIMIT ?)");
    instances.bind(1, int64_t{1});
    if (!instances.step()) {
      result.reason = "index read returned no row";
      return result;
    }
    result.alive = true;
  } catch (const sql::Error& e) {
    result.reason = e.what();
  } catch (const std::exception& e) {
    result.reason = std::string("index check failed: ") + e.what();
  }
  return result;
}

}  // namespace ossa::index
