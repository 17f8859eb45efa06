#pragma once
// The SQLite index: patient / study / series / instance rows with the attributes Q/R needs as
// indexed columns, and every other attribute of the level as JSON, so any attribute can be matched
// and returned without opening files.
//
// Thread contract: one Index is shared by the whole process. Writes (store_instances and the
// pending-file journal) are serialised on one writer connection; queries use a pool of read
// connections and never wait for the writer (WAL). Several processes may open the same file.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "index/levels.h"
#include "index/matching.h"
#include "index/predicate.h"

namespace ossa::index {

namespace sql {
class Database;
}

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

struct Counts {
  int64_t patients = 0, studies = 0, series = 0, instances = 0;
};

class Index {
 public:
  explicit Index(const std::filesystem::path& file);
  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  // --- Write path (crash safety: see archive/ingest_pipeline.h) ---

  // Indexes a batch in ONE transaction (group commit): rows, counters, the change log, and the
  // files made obsolete (journalled in pending_files until deleted). Returns one result per
  // record, in order. Throws sql::Error on failure, in which case nothing of the batch is indexed.
  // The commit is NOT flushed: the caller flushes the index's file system together with the
  // batch's files (storage::FilesystemSync) before it treats the batch as durable.
  std::vector<StoreResult> store_instances(const std::vector<const InstanceRecord*>& records,
                                           DuplicatePolicy policy);
  void remove_pending_files(const std::vector<std::string>& paths);
  // Deletes a patient (by Patient ID), study, series or instance (by UID) with everything under
  // it, in one transaction that also journals the files in pending_files. Returns those files,
  // for the caller to delete and then remove from the journal.
  std::vector<std::string> delete_entity(Level level, const std::string& key);
  std::vector<std::string> pending_files();
  bool is_file_referenced(const std::string& path);
  std::optional<StoredFile> instance_of_file(const std::string& path);
  bool has_instance(const std::string& sop_instance_uid);

  // --- Jobs (index/jobs.cpp) ---

  int64_t add_job(const Job& job);  // kind, node, level, uids, method; returns the id
  // Takes the oldest pending job due at `now` (unix seconds) and marks it running.
  std::optional<Job> claim_job(int64_t now);
  // Same, and when that job is a send, up to `max_jobs` - 1 more pending sends due to the same
  // node, claimed in the same transaction (the runner sends them on one association).
  std::vector<Job> claim_jobs(int64_t now, size_t max_jobs);
  // Records the total/completed/failed counts of several jobs in one transaction.
  void record_job_progress(const std::vector<Job>& jobs);
  std::optional<Job> job(int64_t id);
  std::vector<Job> jobs(size_t limit = 100);  // newest first
  void update_job_progress(int64_t id, int64_t total, int64_t completed, int64_t failed);
  // Ends a job: "done", "failed" or "cancelled", with an explanation.
  void finish_job(int64_t id, const std::string& state, const std::string& error);
  // Puts a job back to pending after a failed attempt, due again at `next_attempt_at`.
  void retry_job(int64_t id, const std::string& error, int64_t next_attempt_at);
  // Cancels a pending or running job (a running one stops at its next progress check).
  bool cancel_job(int64_t id);
  // Start-up: jobs left running by a crash or a stop become pending again.
  size_t requeue_running_jobs();

  // --- Run-time nodes (index/jobs.cpp) ---

  // Adds or replaces (by name) a node; throws sql::Error when another node has the AE title.
  void put_node(const NodeRow& node);
  bool remove_node(const std::string& name);
  std::vector<NodeRow> nodes();

  // --- Change log and plugin delivery (index/changes.cpp) ---

  // Entries after `seq`, oldest first, at most `limit`.
  std::vector<Change> changes_after(int64_t seq, size_t limit);
  int64_t last_change_seq();
  // A plugin's delivery position; a plugin never seen starts at the current end of the log.
  int64_t plugin_cursor(const std::string& plugin);
  void set_plugin_cursor(const std::string& plugin, int64_t seq);
  // Studies whose latest instance arrived at or before `latest` (unix seconds).
  std::vector<std::string> studies_stable_since(int64_t latest, size_t limit);
  void forget_stable(const std::string& study_instance_uid);

  // Patient demographics and merge (HL7 ADT through plugins). `attributes` are patient-level
  // tags with UTF-8 values. Return false when no patient has the (old) ID.
  bool update_patient(const std::string& patient_id, const Attributes& attributes);
  bool merge_patient(const std::string& old_patient_id, const std::string& new_patient_id);

  // --- OsiriX predicates (index/predicate_query.cpp) ---

  // The entities of `table` matching `expr` (XML-RPC DBWindowFind), in insertion order, at most
  // `limit`. Throws predicate::PredicateError for an unknown key or a value of the wrong kind.
  std::vector<predicate::PredicateMatch> find_by_predicate(predicate::Table table,
                                                           const predicate::Expr& expr,
                                                           size_t limit);

  // --- Read path ---

  // Streams matches in a stable order (insertion order of the matched entities), page by page;
  // `on_match` returns false to stop (C-CANCEL). Throws sql::Error.
  void find(const FindQuery& query, const std::function<bool(FindMatch&&)>& on_match);
  // The instances under whatever `query` matches at its level (a patient, studies, series or
  // instances), in a stable order: what C-MOVE and C-GET send.
  std::vector<InstanceLocation> find_instances(const FindQuery& query);
  std::optional<std::string> file_of_instance(const std::string& sop_instance_uid);
  Counts counts();
  // Refreshes the planner's statistics (sampled: milliseconds at any size). The server calls it
  // at start; the index also refreshes them as it grows.
  void refresh_statistics();

  // A real round trip through SQLite (for liveness checks).
  bool ping();

 private:
  class ReaderLease;
  std::unique_ptr<sql::Database> writer_;
  std::mutex writer_mutex_;
  size_t stored_since_analyze_ = 0;  // guarded by writer_mutex_
  std::filesystem::path file_;
  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<sql::Database>> idle_readers_;

  static std::string from_clause(int depth);
  std::vector<int64_t> matching_ids(sql::Database& db, const FindQuery& query);
  std::unique_ptr<sql::Database> acquire_reader();
  void release_reader(std::unique_ptr<sql::Database> reader);
  void create_schema();
  int64_t ensure_patient(const InstanceRecord& r);
  int64_t ensure_study(const InstanceRecord& r, int64_t patient_id);
  int64_t ensure_series(const InstanceRecord& r, int64_t study_id);
  void delete_instance_row(int64_t instance_id, int64_t series_id);
};

}  // namespace ossa::index
