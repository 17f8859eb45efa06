// The job and node tables of the index: durable send and retrieve jobs, and remote nodes added at
// run time, shared by the server (which runs the jobs and uses the nodes) and the command line
// through SQLite's locking.

#include <ctime>
#include <optional>

#include "index/sqlite_index.h"
#include "index/sqlite_leases.h"
#include "index/sqlite.h"
#include "util/time_text.h"

namespace ossa::index {
namespace {

const char* const kJobColumns =
    "id, kind, node, level, uids, method, state, total, completed, failed, attempts, "
    "next_attempt_at, error, created_at, updated_at";

Job read_job(sql::Statement& q) {
  Job j;
  j.id = q.int64(0);
  j.kind = q.text(1);
  j.node = q.text(2);
  j.level = q.text(3);
  j.uids = q.text(4);
  j.method = q.text(5);
  j.state = q.text(6);
  j.total = q.int64(7);
  j.completed = q.int64(8);
  j.failed = q.int64(9);
  j.attempts = q.int64(10);
  j.next_attempt_at = q.int64(11);
  j.error = q.text(12);
  j.created_at = q.text(13);
  j.updated_at = q.text(14);
  return j;
}

}  // namespace

int64_t SqliteIndex::add_job(const Job& job, Durability durability) {
  WriterLock lock(writer_mutex_, *writer_);
  std::optional<UnflushedCommits> unflushed;
  if (durability == Durability::kDeferred) unflushed.emplace(*writer_);
  if (!job.origin_key.empty()) {
    auto& existing = writer_->cached("SELECT id, state FROM jobs WHERE origin_key = ?");
    existing.bind(1, job.origin_key);
    if (existing.step()) {
      const int64_t id = existing.int64(0);
      const std::string state = existing.text(1);
      existing.reset();
      // Asked again (a redelivered event, an instance received again): the job stands, unless it
      // gave up or was cancelled, which must not stop this request for good.
      if (state != "failed" && state != "cancelled") return id;
      writer_->cached("UPDATE jobs SET origin_key = NULL WHERE id = ?").bind(1, id).run();
    }
  }
  const std::string now = util::now_utc_iso8601();
  auto& insert = writer_->cached(
      "INSERT INTO jobs(kind, node, level, uids, method, state, created_at, updated_at, "
      "origin_key) VALUES(?,?,?,?,?,'pending',?,?,?)");
  insert.bind(1, job.kind).bind(2, job.node).bind(3, job.level).bind(4, job.uids);
  insert.bind(5, job.method).bind(6, now).bind(7, now);
  if (job.origin_key.empty()) {
    insert.bind_null(8);
  } else {
    insert.bind(8, job.origin_key);
  }
  insert.run();
  return writer_->last_insert_id();
}

std::optional<Job> SqliteIndex::claim_job(int64_t now) {
  WriterLock lock(writer_mutex_, *writer_);
  const UnflushedCommits unflushed(*writer_);  // at least once: a crash redoes the job
  sql::Transaction tx(*writer_);
  auto& next = writer_->cached(
      "SELECT id FROM jobs WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT 1");
  next.bind(1, now);
  if (!next.step()) {
    next.reset();
    return std::nullopt;
  }
  const int64_t id = next.int64(0);
  next.reset();
  writer_
      ->cached(
          "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ? "
          "WHERE id = ?")
      .bind(1, util::now_utc_iso8601())
      .bind(2, id)
      .run();
  tx.commit();
  auto& read = writer_->cached(
      "SELECT id, kind, node, level, uids, method, state, total, completed, failed, attempts, "
      "next_attempt_at, error, created_at, updated_at FROM jobs WHERE id = ?");
  read.bind(1, id);
  std::optional<Job> job;
  if (read.step()) job = read_job(read);
  read.reset();
  return job;
}

std::vector<Job> SqliteIndex::claim_jobs(int64_t now, size_t max_jobs) {
  std::vector<Job> claimed;
  std::optional<Job> first = claim_job(now);
  if (!first) return claimed;
  claimed.push_back(std::move(*first));
  const Job& lead = claimed.front();
  if (lead.kind != "send" || max_jobs <= 1) return claimed;
  WriterLock lock(writer_mutex_, *writer_);
  const UnflushedCommits unflushed(*writer_);  // at least once: a crash redoes the job
  sql::Transaction tx(*writer_);
  static const std::string kMoreSends =
      std::string("SELECT ") + kJobColumns +
      " FROM jobs WHERE state = 'pending' AND next_attempt_at <= ? AND kind = 'send' AND "
      "node = ? ORDER BY id LIMIT ?";
  auto& more = writer_->cached(kMoreSends.c_str());
  more.bind(1, now).bind(2, lead.node).bind(3, static_cast<int64_t>(max_jobs - 1));
  while (more.step()) claimed.push_back(read_job(more));
  more.reset();
  auto& mark = writer_->cached(
      "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ? WHERE id = ?");
  const std::string now_string = util::now_utc_iso8601();
  for (size_t i = 1; i < claimed.size(); ++i) {
    mark.bind(1, now_string).bind(2, claimed[i].id).run();
    mark.reset();
    claimed[i].state = "running";
    ++claimed[i].attempts;
  }
  tx.commit();
  return claimed;
}

void SqliteIndex::record_job_progress(const std::vector<Job>& jobs) {
  if (jobs.empty()) return;
  WriterLock lock(writer_mutex_, *writer_);
  const UnflushedCommits unflushed(*writer_);  // at least once: a crash redoes the job
  sql::Transaction tx(*writer_);
  auto& update = writer_->cached(
      "UPDATE jobs SET total = ?, completed = ?, failed = ?, updated_at = ? WHERE id = ?");
  const std::string now = util::now_utc_iso8601();
  for (const Job& j : jobs) {
    update.bind(1, j.total).bind(2, j.completed).bind(3, j.failed).bind(4, now).bind(5, j.id).run();
    update.reset();
  }
  tx.commit();
}

std::optional<Job> SqliteIndex::job(int64_t id) {
  ReaderLease db(*this);
  sql::Statement q = db->prepare(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?");
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return read_job(q);
}

std::vector<Job> SqliteIndex::jobs(size_t limit) {
  ReaderLease db(*this);
  sql::Statement q =
      db->prepare(std::string("SELECT ") + kJobColumns + " FROM jobs ORDER BY id DESC LIMIT ?");
  q.bind(1, static_cast<int64_t>(limit));
  std::vector<Job> out;
  while (q.step()) out.push_back(read_job(q));
  return out;
}

void SqliteIndex::update_job_progress(int64_t id, int64_t total, int64_t completed,
                                      int64_t failed) {
  WriterLock lock(writer_mutex_, *writer_);
  const UnflushedCommits unflushed(*writer_);  // at least once: a crash redoes the job
  writer_
      ->cached("UPDATE jobs SET total = ?, completed = ?, failed = ?, updated_at = ? WHERE id = ?")
      .bind(1, total)
      .bind(2, completed)
      .bind(3, failed)
      .bind(4, util::now_utc_iso8601())
      .bind(5, id)
      .run();
}

void SqliteIndex::finish_jobs(const std::vector<Job>& jobs) {
  if (jobs.empty()) return;
  WriterLock lock(writer_mutex_, *writer_);
  const UnflushedCommits unflushed(*writer_);  // at least once: a crash redoes the jobs
  sql::Transaction tx(*writer_);
  // A job cancelled meanwhile stays cancelled (its counts are still recorded).
  auto& update = writer_->cached(
      "UPDATE jobs SET total = ?, completed = ?, failed = ?, updated_at = ?, "
      "state = CASE WHEN state = 'cancelled' THEN state ELSE ? END, "
      "error = CASE WHEN state = 'cancelled' THEN error ELSE ? END WHERE id = ?");
  const std::string now = util::now_utc_iso8601();
  for (const Job& j : jobs) {
    update.bind(1, j.total).bind(2, j.completed).bind(3, j.failed).bind(4, now);
    update.bind(5, j.state).bind(6, j.error).bind(7, j.id).run();
    update.reset();
  }
  tx.commit();
}

void SqliteIndex::finish_job(int64_t id, const std::string& state, const std::string& error) {
  WriterLock lock(writer_mutex_, *writer_);
  const UnflushedCommits unflushed(*writer_);  // at least once: a crash redoes the job
  // A job cancelled meanwhile stays cancelled.
  writer_
      ->cached(
          "UPDATE jobs SET state = ?, error = ?, updated_at = ? WHERE id = ? AND "
          "state <> 'cancelled'")
      .bind(1, state)
      .bind(2, error)
      .bind(3, util::now_utc_iso8601())
      .bind(4, id)
      .run();
}

void SqliteIndex::retry_job(int64_t id, const std::string& error, int64_t next_attempt_at) {
  WriterLock lock(writer_mutex_, *writer_);
  const UnflushedCommits unflushed(*writer_);  // at least once: a crash redoes the job
  writer_
      ->cached(
          "UPDATE jobs SET state = 'pending', error = ?, next_attempt_at = ?, updated_at = ? "
          "WHERE id = ? AND state = 'running'")
      .bind(1, error)
      .bind(2, next_attempt_at)
      .bind(3, util::now_utc_iso8601())
      .bind(4, id)
      .run();
}

bool SqliteIndex::cancel_job(int64_t id) {
  WriterLock lock(writer_mutex_, *writer_);
  writer_
      ->cached(
          "UPDATE jobs SET state = 'cancelled', updated_at = ? WHERE id = ? AND "
          "state IN ('pending', 'running')")
      .bind(1, util::now_utc_iso8601())
      .bind(2, id)
      .run();
  return writer_->changes() > 0;
}

size_t SqliteIndex::requeue_running_jobs() {
  WriterLock lock(writer_mutex_, *writer_);
  const UnflushedCommits unflushed(*writer_);  // at least once: a crash redoes the job
  writer_->cached("UPDATE jobs SET state = 'pending' WHERE state = 'running'").run();
  return static_cast<size_t>(writer_->changes());
}

void SqliteIndex::put_node(const NodeRow& n) {
  WriterLock lock(writer_mutex_, *writer_);
  auto& put = writer_->cached(
      // Upsert by name only: an AE title already used by another node is a constraint error,
      // not a silent replacement of that node (which INSERT OR REPLACE would do).
      "INSERT INTO nodes(name, aet, host, port, move_destination, query, retrieve, send) "
      "VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET aet = excluded.aet, "
      "host = excluded.host, port = excluded.port, move_destination = excluded.move_destination, "
      "query = excluded.query, retrieve = excluded.retrieve, send = excluded.send");
  put.bind(1, n.name).bind(2, n.aet).bind(3, n.host).bind(4, n.port);
  put.bind(5, int64_t{n.move_destination}).bind(6, int64_t{n.query});
  put.bind(7, int64_t{n.retrieve}).bind(8, int64_t{n.send});
  put.run();
}

bool SqliteIndex::remove_node(const std::string& name) {
  WriterLock lock(writer_mutex_, *writer_);
  writer_->cached("DELETE FROM nodes WHERE name = ?").bind(1, name).run();
  return writer_->changes() > 0;
}

std::vector<NodeRow> SqliteIndex::nodes() {
  ReaderLease db(*this);
  auto& q = db->cached(
      "SELECT name, aet, host, port, move_destination, query, retrieve, send FROM nodes "
      "ORDER BY name");
  std::vector<NodeRow> out;
  while (q.step()) {
    out.push_back({q.text(0), q.text(1), q.text(2), q.int64(3), q.int64(4) != 0, q.int64(5) != 0,
                   q.int64(6) != 0, q.int64(7) != 0});
  }
  return out;
}

}  // namespace ossa::index
