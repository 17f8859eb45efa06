// The change log as plugins consume it: on_stored delivery positions and the studies waiting to
// become stable. Shared with other processes through SQLite like the rest of the index.

#include "index/sqlite_index.h"
#include "index/sqlite_leases.h"
#include "index/sqlite.h"

namespace ossa::index {

std::vector<Change> SqliteIndex::changes_after(int64_t seq, size_t limit) {
  ReaderLease db(*this);
  auto& q = db->cached(
      "SELECT seq, change_type, sop_instance_uid, series_instance_uid, study_instance_uid, "
      "sop_class_uid, patient_id, calling_aet, called_aet FROM changes WHERE seq > ? "
      "ORDER BY seq LIMIT ?");
  q.bind(1, seq).bind(2, static_cast<int64_t>(limit));
  std::vector<Change> out;
  while (q.step()) {
    out.push_back({q.int64(0), q.text(1), q.text(2), q.text(3), q.text(4), q.text(5), q.text(6),
                   q.text(7), q.text(8)});
  }
  return out;
}

int64_t SqliteIndex::last_change_seq() {
  ReaderLease db(*this);
  auto& q = db->cached("SELECT coalesce(max(seq), 0) FROM changes");
  return q.step() ? q.int64(0) : 0;
}

int64_t SqliteIndex::plugin_cursor(const std::string& plugin) {
  {
    ReaderLease db(*this);
    auto& q = db->cached("SELECT seq FROM plugin_cursors WHERE plugin = ?");
    q.bind(1, plugin);
    if (q.step()) return q.int64(0);
  }
  // First run of this plugin: it starts with what arrives from now on, not the whole history.
  const int64_t start = last_change_seq();
  set_plugin_cursor(plugin, start);
  return start;
}

void SqliteIndex::set_plugin_cursor(const std::string& plugin, int64_t seq) {
  WriterLock lock(writer_mutex_, *writer_);
  const UnflushedCommits unflushed(*writer_);  // at least once: a crash delivers again
  writer_->cached("INSERT OR REPLACE INTO plugin_cursors(plugin, seq) VALUES(?,?)")
      .bind(1, plugin)
      .bind(2, seq)
      .run();
}

std::vector<std::string> SqliteIndex::studies_stable_since(int64_t latest, size_t limit) {
  ReaderLease db(*this);
  auto& q = db->cached(
      "SELECT study_instance_uid FROM stable_watch WHERE last_at <= ? ORDER BY last_at LIMIT ?");
  q.bind(1, latest).bind(2, static_cast<int64_t>(limit));
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text(0));
  return out;
}

void SqliteIndex::forget_stable(const std::string& study_instance_uid) {
  WriterLock lock(writer_mutex_, *writer_);
  const UnflushedCommits unflushed(*writer_);  // at least once: a crash delivers again
  writer_->cached("DELETE FROM stable_watch WHERE study_instance_uid = ?")
      .bind(1, study_instance_uid)
      .run();
}

}  // namespace ossa::index
