#pragma once
// The index as the rest of Ossa sees it: patient / study / series / instance records, C-FIND
// matching, the durable jobs, nodes and change log. `Index` is an interface; the backend behind it
// (SqliteIndex today, see index/sqlite_index.h) is chosen by open_index() (index/open_index.h) from
// the configuration. Nothing here names a backend type: DICOM, XML-RPC, HTTP, jobs and plugins
// depend on this header only, and catch index::Error (index/error.h) for index failures.
//
// Thread contract, for every backend: one Index is shared by the whole process and every method
// may be called from any thread at the same time. Several processes (the server and `ossa import`)
// may use the same index at once.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "index/error.h"
#include "index/levels.h"
#include "index/liveness.h"
#include "index/matching.h"
#include "index/predicate.h"

namespace ossa::index {

struct InstanceRecord {
  Attributes attributes[kLevelCount];  // by Level, UTF-8
  std::string file_path;               // relative to the storage root
  uint64_t file_size = 0;
  std::string transfer_syntax_uid;
  std::string calling_aet;  // who sent it ("" for an import): recorded in the change log
  std::string called_aet;

  const std::string& get(Level level, uint32_t tag) const;
};

enum class DuplicatePolicy { kOverwrite, kKeep };

enum class StoreOutcome { kStored, kReplaced, kKeptExisting };

struct StoreResult {
  StoreOutcome outcome = StoreOutcome::kStored;
  // The replaced instance's file, no longer referenced; it is in the pending-file journal until
  // the caller deletes it. Empty otherwise (a kept duplicate's new file was never referenced).
  std::string obsolete_file;
};

struct FindQuery {
  Level level = Level::kStudy;
  std::vector<Condition> conditions;  // keys at `level` or above; universal ones may be left out
  std::set<uint32_t> computed;        // computed attributes wanted (counts, ModalitiesInStudy, ...)
};

struct FindMatch {
  Attributes attributes;  // the matched entity's level and every level above, plus computed ones
};

// Where one stored instance is, for retrieval.
struct InstanceLocation {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string transfer_syntax_uid;
  std::string file_path;  // relative to the storage root
};

// A durable job: send instances to a node, or retrieve them from one.
struct Job {
  int64_t id = 0;
  std::string kind;    // "send" | "retrieve"
  std::string node;    // node name
  std::string level;   // "PATIENT" | "STUDY" | "SERIES" | "IMAGE"
  std::string uids;    // unique keys, joined by '\'
  std::string method;  // retrieve: "move" | "get"
  std::string state;   // "pending" | "running" | "done" | "failed" | "cancelled"
  int64_t total = 0, completed = 0, failed = 0, attempts = 0, next_attempt_at = 0;
  std::string error, created_at, updated_at;
  // Set by the caller to make queuing idempotent: add_job with the key of an existing job adds
  // nothing and returns that job's id, unless that job failed or was cancelled (then it queues a
  // new one). E.g. "<plugin>|send|<node>|IMAGE||<uid>" for a send a plugin queues from on_stored,
  // whose event may be delivered again. Empty: always a new job.
  std::string origin_key;
};

// A remote node as the index keeps it (nodes added at run time).
struct NodeRow {
  std::string name, aet, host;
  int64_t port = 104;
  bool move_destination = true, query = false, retrieve = false, send = false;
};

// One entry of the durable change log.
struct Change {
  int64_t seq = 0;
  std::string change_type;  // "stored", "replaced", "deleted"
  std::string sop_instance_uid, series_instance_uid, study_instance_uid;
  std::string sop_class_uid, patient_id, calling_aet, called_aet;
};

// The instance a stored file belongs to (start-up checks files left in tmp/ against it).
struct StoredFile {
  std::string sop_instance_uid;
  uint64_t file_size = 0;
};

// When a write reaches the disk: kFlushed before the call returns; kDeferred with the next flush
// of the file system (the ingest pipeline's after each batch, the next flushed write, or a
// checkpoint), for writes whose callers would redo them after a crash.
enum class Durability { kFlushed, kDeferred };

struct Counts {
  int64_t patients = 0, studies = 0, series = 0, instances = 0;
};

class Index {
 public:
  virtual ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  // --- Write path (crash safety: see archive/ingest_pipeline.h) ---

  // Indexes a batch in ONE transaction (group commit): rows, counters, the change log, and the
  // files made obsolete (journalled in pending_files until deleted). Returns one result per
  // record, in order. Throws index::Error on failure, in which case nothing of the batch is
  // indexed. The commit need not be flushed by the call: the caller flushes local_folder()'s file
  // system together with the batch's files (storage::FilesystemSync) before it treats the batch
  // as durable.
  // `before_replacing` is called once, inside the transaction, before the first record that
  // replaces a stored instance is written (the ingest pipeline flushes the batch's files there:
  // a replacement must never depend on a file that is not yet durable).
  virtual std::vector<StoreResult> store_instances(
      const std::vector<const InstanceRecord*>& records, DuplicatePolicy policy,
      const std::function<void()>& before_replacing) = 0;
  std::vector<StoreResult> store_instances(const std::vector<const InstanceRecord*>& records,
                                           DuplicatePolicy policy) {
    return store_instances(records, policy, [] {});
  }
  // The local folder whose file system holds this index's data (flushed with the stored files
  // after each batch); nullopt for a backend whose commits are durable by themselves.
  virtual std::optional<std::filesystem::path> local_folder() const = 0;
  virtual void remove_pending_files(const std::vector<std::string>& paths) = 0;
  // Deletes a patient (by Patient ID), study, series or instance (by UID) with everything under
  // it, in one transaction that also journals the files in pending_files. Returns those files,
  // for the caller to delete and then remove from the journal.
  virtual std::vector<std::string> delete_entity(Level level, const std::string& key) = 0;
  virtual std::vector<std::string> pending_files() = 0;
  virtual bool is_file_referenced(const std::string& path) = 0;
  virtual std::optional<StoredFile> instance_of_file(const std::string& path) = 0;
  virtual bool has_instance(const std::string& sop_instance_uid) = 0;

  // --- Jobs ---

  // Job bookkeeping is at least once: claims, progress, retries and ends are NOT flushed when the
  // calls return (a crash may forget the last ones; the job then runs again, which re-sends the
  // same instances, as DICOM allows). A new job (kind, node, level, uids, method) is flushed
  // unless `durability` is kDeferred, for callers that redo it after a crash themselves (an
  // on_stored hook, whose event is delivered again). Returns the id.
  virtual int64_t add_job(const Job& job, Durability durability) = 0;
  int64_t add_job(const Job& job) { return add_job(job, Durability::kFlushed); }
  // Takes the oldest pending job due at `now` (unix seconds) and marks it running.
  virtual std::optional<Job> claim_job(int64_t now) = 0;
  // Same, and when that job is a send, up to `max_jobs` - 1 more pending sends due to the same
  // node, claimed in the same transaction (the runner sends them on one association).
  virtual std::vector<Job> claim_jobs(int64_t now, size_t max_jobs) = 0;
  // Records the total/completed/failed counts of several jobs in one transaction.
  virtual void record_job_progress(const std::vector<Job>& jobs) = 0;
  virtual std::optional<Job> job(int64_t id) = 0;
  virtual std::vector<Job> jobs(size_t limit) = 0;  // newest first
  std::vector<Job> jobs() { return jobs(100); }
  virtual void update_job_progress(int64_t id, int64_t total, int64_t completed,
                                   int64_t failed) = 0;
  // Ends a job: "done", "failed" or "cancelled", with an explanation.
  virtual void finish_job(int64_t id, const std::string& state, const std::string& error) = 0;
  // Ends several jobs in one transaction, each as its `state` and `error` say, with its counts.
  virtual void finish_jobs(const std::vector<Job>& jobs) = 0;
  // Puts a job back to pending after a failed attempt, due again at `next_attempt_at`.
  virtual void retry_job(int64_t id, const std::string& error, int64_t next_attempt_at) = 0;
  // Cancels a pending or running job (a running one stops at its next progress check).
  virtual bool cancel_job(int64_t id) = 0;
  // Start-up: jobs left running by a crash or a stop become pending again.
  virtual size_t requeue_running_jobs() = 0;

  // --- Run-time nodes ---

  // Adds or replaces (by name) a node; throws index::Error when another node has the AE title.
  virtual void put_node(const NodeRow& node) = 0;
  virtual bool remove_node(const std::string& name) = 0;
  virtual std::vector<NodeRow> nodes() = 0;

  // --- Change log and plugin delivery ---

  // Entries after `seq`, oldest first, at most `limit`.
  virtual std::vector<Change> changes_after(int64_t seq, size_t limit) = 0;
  virtual int64_t last_change_seq() = 0;
  // A plugin's delivery position; a plugin never seen starts at the current end of the log. Not
  // flushed when set_plugin_cursor returns (delivery is at least once).
  virtual int64_t plugin_cursor(const std::string& plugin) = 0;
  virtual void set_plugin_cursor(const std::string& plugin, int64_t seq) = 0;
  // Studies whose latest instance arrived at or before `latest` (unix seconds).
  virtual std::vector<std::string> studies_stable_since(int64_t latest, size_t limit) = 0;
  virtual void forget_stable(const std::string& study_instance_uid) = 0;

  // Patient demographics and merge (HL7 ADT through plugins). `attributes` are patient-level
  // tags with UTF-8 values. Return false when no patient has the (old) ID.
  virtual bool update_patient(const std::string& patient_id, const Attributes& attributes) = 0;
  virtual bool merge_patient(const std::string& old_patient_id,
                             const std::string& new_patient_id) = 0;

  // --- OsiriX predicates ---

  // The entities of `table` matching `expr` (XML-RPC DBWindowFind), in insertion order, at most
  // `limit`. Throws predicate::PredicateError for an unknown key or a value of the wrong kind.
  virtual std::vector<predicate::PredicateMatch> find_by_predicate(predicate::Table table,
                                                                   const predicate::Expr& expr,
                                                                   size_t limit) = 0;

  // --- Read path ---

  // Streams matches in a stable order (insertion order of the matched entities), page by page;
  // `on_match` returns false to stop (C-CANCEL). Throws index::Error. No backend may hold the
  // whole answer in memory: matches are handed over one at a time as they are read.
  virtual void find(const FindQuery& query, const std::function<bool(FindMatch&&)>& on_match) = 0;
  // The instances under whatever `query` matches at its level (a patient, studies, series or
  // instances), in a stable order: what C-MOVE and C-GET send.
  virtual std::vector<InstanceLocation> find_instances(const FindQuery& query) = 0;
  // Where an instance is now (its file, transfer syntax and SOP class); nullopt when unknown.
  virtual std::optional<InstanceLocation> location_of_instance(
      const std::string& sop_instance_uid) = 0;
  std::optional<std::string> file_of_instance(const std::string& sop_instance_uid) {
    auto location = location_of_instance(sop_instance_uid);
    if (!location) return std::nullopt;
    return std::move(location->file_path);
  }
  virtual Counts counts() = 0;
  // Refreshes the planner's statistics (cheap at any size). The server calls it at start; the
  // index also refreshes them as it grows.
  virtual void refresh_statistics() = 0;

  // --- Liveness ---

  // A real round trip through the index's usual connections (ossa.status); false on any failure.
  virtual bool ping() = 0;
  // The check behind GET /testdbalive and the watchdog: a real read on a connection of its own,
  // so nothing cached by the server's connections hides a damaged, replaced or missing index. A
  // lock held elsewhere makes it wait at most `busy_timeout`, then report the lock. The callable
  // is self-contained (it holds copies of what it needs, not this Index): a caller may run it on a
  // thread that outlives the Index, since a backend can take seconds to give up on some locks.
  virtual std::function<Liveness()> liveness_check(
      std::chrono::milliseconds busy_timeout) const = 0;

 protected:
  Index() = default;
};

}  // namespace ossa::index
