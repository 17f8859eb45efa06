#pragma once
// The SQLite backend of the index: patient / study / series / instance rows with the attributes
// Q/R needs as indexed columns, and every other attribute of the level as JSON, so any attribute
// can be matched and returned without opening files.
//
// Only core/index (and its tests) include this header; everything else uses index::Index, made by
// open_index() (tests/architecture_test.cmake enforces it).
//
// Writes (store_instances and the pending-file journal) are serialised on one writer connection;
// queries use a pool of read connections and never wait for the writer (WAL). Several processes
// may open the same file: SQLite's locking keeps them consistent.
//
// The implementation is split by responsibility: sqlite_index.cpp (schema, store, delete, find),
// sqlite_jobs.cpp (jobs and nodes), sqlite_changes.cpp (change log, plugin cursors, stable
// studies), sqlite_predicate_query.cpp (OsiriX predicates), sqlite_liveness.cpp (/testdbalive).

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "index/index.h"

namespace ossa::index {

namespace sql {
class Database;
}

class SqliteIndex final : public Index {
 public:
  // Opens (creating it and its folder if needed) and brings the schema up to date. Throws
  // index::Error when the file is not an index or has a newer schema than this Ossa.
  explicit SqliteIndex(const std::filesystem::path& file);
  ~SqliteIndex() override;

  using Index::store_instances;
  std::vector<StoreResult> store_instances(const std::vector<const InstanceRecord*>& records,
                                           DuplicatePolicy policy,
                                           const std::function<void()>& before_replacing) override;
  void remove_pending_files(const std::vector<std::string>& paths) override;
  std::vector<std::string> delete_entity(Level level, const std::string& key) override;
  std::vector<std::string> pending_files() override;
  std::optional<std::filesystem::path> local_folder() const override { return file_.parent_path(); }
  bool is_file_referenced(const std::string& path) override;
  std::optional<StoredFile> instance_of_file(const std::string& path) override;
  bool has_instance(const std::string& sop_instance_uid) override;

  int64_t add_job(const Job& job, Durability durability) override;
  std::optional<Job> claim_job(int64_t now) override;
  std::vector<Job> claim_jobs(int64_t now, size_t max_jobs) override;
  void record_job_progress(const std::vector<Job>& jobs) override;
  std::optional<Job> job(int64_t id) override;
  using Index::add_job;  // the flushed one
  using Index::jobs;     // the overload with the default limit
  std::vector<Job> jobs(size_t limit) override;
  void update_job_progress(int64_t id, int64_t total, int64_t completed, int64_t failed) override;
  void finish_job(int64_t id, const std::string& state, const std::string& error) override;
  void finish_jobs(const std::vector<Job>& jobs) override;
  void retry_job(int64_t id, const std::string& error, int64_t next_attempt_at) override;
  bool cancel_job(int64_t id) override;
  size_t requeue_running_jobs() override;

  void put_node(const NodeRow& node) override;
  bool remove_node(const std::string& name) override;
  std::vector<NodeRow> nodes() override;

  std::vector<Change> changes_after(int64_t seq, size_t limit) override;
  int64_t last_change_seq() override;
  int64_t plugin_cursor(const std::string& plugin) override;
  void set_plugin_cursor(const std::string& plugin, int64_t seq) override;
  std::vector<std::string> studies_stable_since(int64_t latest, size_t limit) override;
  void forget_stable(const std::string& study_instance_uid) override;
  bool update_patient(const std::string& patient_id, const Attributes& attributes) override;
  bool merge_patient(const std::string& old_patient_id, const std::string& new_patient_id) override;

  std::vector<predicate::PredicateMatch> find_by_predicate(predicate::Table table,
                                                           const predicate::Expr& expr,
                                                           size_t limit) override;

  void find(const FindQuery& query, const std::function<bool(FindMatch&&)>& on_match) override;
  std::vector<InstanceLocation> find_instances(const FindQuery& query) override;
  std::optional<InstanceLocation> location_of_instance(
      const std::string& sop_instance_uid) override;
  Counts counts() override;
  // ANALYZE, sampled (analysis_limit): milliseconds at any size.
  void refresh_statistics() override;

  // A read through a pooled reader connection.
  bool ping() override;
  // Runs probe() on the index file.
  std::function<Liveness()> liveness_check(std::chrono::milliseconds busy_timeout) const override;

  // Opens a connection of its own to `file` (read-only, so no page cached by the server's
  // connections can hide a damaged or replaced file; never creating it, so a missing index is a
  // failure, not an empty archive) and runs prepared reads of the schema and of the instances
  // table. A lock held by another connection makes it wait at most `busy_timeout`.
  static Liveness probe(const std::filesystem::path& file, std::chrono::milliseconds busy_timeout);

 private:
  class ReaderLease;
  std::unique_ptr<sql::Database> writer_;
  std::mutex writer_mutex_;
  size_t stored_since_analyze_ = 0;  // guarded by writer_mutex_
  std::filesystem::path file_;
  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<sql::Database>> idle_readers_;

  static std::string from_clause(int depth, bool with_patients = true);
  // What a C-FIND's row statement reads besides the levels' attributes and counters.
  struct RowColumns {
    bool modalities = false;      // ModalitiesInStudy
    bool sop_classes = false;     // SOPClassesInStudy
    bool patient_counts = false;  // NumberOfPatientRelated*: the patient's own row
  };
  static const char* find_row_sql(Level level, const RowColumns& wanted);
  std::vector<int64_t> matching_ids(sql::Database& db, const FindQuery& query);
  std::unique_ptr<sql::Database> acquire_reader();
  void release_reader(std::unique_ptr<sql::Database> reader);
  void create_schema();
  int64_t ensure_patient(const InstanceRecord& r);
  int64_t ensure_study(const InstanceRecord& r, int64_t patient_id);
  int64_t ensure_series(const InstanceRecord& r, int64_t study_id);
  void delete_instance_row(int64_t instance_id, int64_t series_id);
  void refresh_study_modalities(int64_t study_id);
  void analyze();  // writer_mutex_ held
};

namespace predicate {
// Registers the SQL functions translated predicates call (ossa_nsp), on every connection of the
// SQLite backend (sqlite_predicate_query.cpp).
void register_functions(sql::Database& db);
}  // namespace predicate

}  // namespace ossa::index
