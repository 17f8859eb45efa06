#pragma once
// The archive facade: the one door every front end (DICOM, import, later XML-RPC, HTTP and plugins)
// uses to put instances in and get answers out. Front ends never touch SQL or file paths.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "archive/find_providers.h"
#include "archive/ingest_stream.h"
#include "index/index.h"
#include "index/open_index.h"
#include "storage/file_store.h"
#include "storage/filesystem_sync.h"

namespace ossa::archive {

class IngestPipeline;

// A remote DICOM node and what Ossa may do with it.
struct Node {
  std::string name;
  std::string aet;
  std::string host;
  uint16_t port = 104;
  bool move_destination = true;
  bool query = false;
  bool retrieve = false;
  bool send = false;
};

// Who sent an instance (empty for an import).
struct IngestOrigin {
  std::string calling_aet;
  std::string called_aet;
};

// A look at each instance before it is stored (the plugin host's on_received hooks). It may
// rewrite `file` in place (same path) with changed attributes, or refuse the instance.
class ReceivedHook {
 public:
  virtual ~ReceivedHook() = default;
  struct Verdict {
    uint16_t reject_status = 0;  // non-zero: refuse with this DIMSE status
    std::string reason;
    bool rewritten = false;  // the file now holds changed attributes
  };
  // `file` is the received instance; a hook that changes it writes the changed copy to
  // `scratch` (under the store's tmp/, so start-up deletes it after a crash) and renames it over
  // `file`.
  virtual Verdict on_received(const std::filesystem::path& file,
                              const std::filesystem::path& scratch,
                              const std::string& sop_class_uid, const std::string& sop_instance_uid,
                              const index::InstanceRecord& record, const IngestOrigin& origin) = 0;
};

struct ArchiveOptions {
  std::filesystem::path storage_root;
  index::IndexOptions index;  // which backend, and where (index.backend, index.path)
  index::DuplicatePolicy duplicates = index::DuplicatePolicy::kOverwrite;
  uint64_t min_free_bytes = 0;
  std::vector<Node> nodes;         // declared in the configuration
  std::string own_aet = "OSSA";    // Ossa's AE title (the destination of retrieve jobs by C-MOVE)
  bool prepare_temp_files = true;  // keep empty files ready for incoming instances (serve, import)
};

struct IngestResult {
  enum class Kind { kStored, kReplaced, kDuplicateKept, kRejected };
  Kind kind = Kind::kRejected;
  uint16_t dimse_status = 0;  // 0x0000 on success; the C-STORE status otherwise
  std::string sop_instance_uid;
  std::string message;  // why it was rejected

  bool ok() const { return kind != Kind::kRejected; }
};

class Archive {
 public:
  // Opens (or creates) the store and the index. When no other Ossa process uses this store, it
  // first recovers from a crash: deletes tmp/ and the journalled files that never got indexed.
  explicit Archive(const ArchiveOptions& options);
  ~Archive();
  Archive(const Archive&) = delete;
  Archive& operator=(const Archive&) = delete;

  // Where a front end writes an incoming file before handing it to ingest_received().
  std::filesystem::path new_temp_path() const { return store_->new_temp_path(); }
  // Removes a file from new_temp_path() that will not be ingested.
  void discard_temp(const std::filesystem::path& file) const { store_->discard_temp(file); }

  // The one ingest path. `temp_file` (from new_temp_path()) is consumed whatever happens. When
  // `expected_sop_instance_uid` is not empty the dataset must carry that UID (C-STORE's Affected
  // SOP Instance UID). Returns only when the instance is durable, or rejected.
  // `stream`: the sender's, when it sends instance after instance (one per association).
  // `file_bytes`: the temp file's whole content when the caller still has it in memory (it is
  // parsed instead of reading the file back).
  IngestResult ingest_received(const std::filesystem::path& temp_file,
                               const std::string& expected_sop_instance_uid = "",
                               const IngestOrigin& origin = {}, IngestStream* stream = nullptr,
                               const std::string* file_bytes = nullptr);
  // Imports a file from anywhere (copied, so the source is left alone).
  IngestResult ingest_copy(const std::filesystem::path& source, IngestStream* stream = nullptr);

  IngestStats ingest_stats() const;

  // Installs the hook every ingested instance passes through (nullptr: none). Set before the
  // front ends start; not owned.
  void set_received_hook(ReceivedHook* hook) { received_hook_ = hook; }
  // Installs who answers C-FIND for SOP classes other than the archive's Q/R models (the plugin
  // host's find providers; nullptr: none). Set before the front ends start; not owned.
  void set_find_providers(FindProviders* providers) { find_providers_ = providers; }
  FindProviders* find_providers() const { return find_providers_; }

  void find(const index::FindQuery& query, const std::function<bool(index::FindMatch&&)>& on_match);

  // OsiriX predicates (XML-RPC DBWindowFind); throws index::predicate::PredicateError.
  std::vector<index::predicate::PredicateMatch> find_by_predicate(
      index::predicate::Table table, const index::predicate::Expr& expr, size_t limit) {
    return index_->find_by_predicate(table, expr, limit);
  }

  // What a C-MOVE or C-GET of `query` sends: every instance under the matched entities.
  std::vector<index::InstanceLocation> instances_for(const index::FindQuery& query);
  // Where `instance` is now. A send job (or C-MOVE, C-GET) reads its instances' locations first
  // and sends them one by one; an instance replaced meanwhile has lost its file (deleted once the
  // successor is durable), and its current location may differ in file, transfer syntax and
  // even SOP class. Unchanged when its file is still there or the instance is gone.
  index::InstanceLocation current_location(const index::InstanceLocation& instance) const;
  // The absolute path of a location's file (checked against the store's naming).
  std::filesystem::path file_of(const index::InstanceLocation& instance) const;

  // Deletes a patient (by Patient ID), a study, a series or an instance (by UID) with everything
  // under it: index rows and files, crash-safe (files are journalled in the same transaction).
  // Returns the number of instances deleted. A deleted instance can be received again.
  size_t delete_entity(index::Level level, const std::string& key);

  // Declared remote nodes: those of the configuration, then those added at run time (kept in the
  // index, so they survive a restart and are seen by every Ossa process at once).
  std::vector<Node> nodes();
  std::optional<Node> node_by_aet(const std::string& aet);
  std::optional<Node> node_by_name(const std::string& name_or_aet);
  // Adds (or replaces) a run-time node. Throws std::invalid_argument when the name or AE title is
  // one of the configuration's, or the AE title belongs to another node.
  void add_node(const Node& node);
  // Removes a run-time node; false when there is none of that name (configured ones stay).
  bool remove_node(const std::string& name);

  // Durable jobs (run by the server's job runner; see jobs/job_runner.h).
  int64_t queue_job(const index::Job& job,
                    index::Durability durability = index::Durability::kFlushed) {
    return index_->add_job(job, durability);
  }
  std::optional<index::Job> job(int64_t id) { return index_->job(id); }
  std::vector<index::Job> jobs(size_t limit = 100) { return index_->jobs(limit); }
  bool cancel_job(int64_t id) { return index_->cancel_job(id); }

  const std::string& own_aet() const { return options_.own_aet; }

  // Whether the index answers a real read now (GET /testdbalive, the watchdog's probe): a lock
  // held elsewhere is waited for at most `busy_timeout`, then reported.
  index::Liveness index_alive(std::chrono::milliseconds busy_timeout) const {
    return index_alive_check(busy_timeout)();
  }
  // The same check as a self-contained callable (it holds copies of what it needs), for a caller
  // that runs it on a thread which may outlive the archive: the index can take seconds to give up
  // on some locks, and a deadline must not wait for that.
  std::function<index::Liveness()> index_alive_check(std::chrono::milliseconds busy_timeout) const {
    return index_->liveness_check(busy_timeout);
  }

  index::Index& index() { return *index_; }
  const storage::FileStore& store() const { return *store_; }
  bool recovered_at_start() const { return recovered_; }

 private:
  IngestResult ingest(const std::filesystem::path& temp_file, const std::string& expected_uid,
                      const IngestOrigin& origin, IngestStream* stream,
                      const std::string* file_bytes);
  void recover();

  ArchiveOptions options_;
  int lock_fd_ = -1;
  bool recovered_ = false;
  std::unique_ptr<storage::FileStore> store_;
  std::unique_ptr<index::Index> index_;
  std::unique_ptr<storage::FilesystemSync> durability_;  // flushes store and index together
  std::unique_ptr<IngestPipeline> pipeline_;
  ReceivedHook* received_hook_ = nullptr;
  FindProviders* find_providers_ = nullptr;
};

}  // namespace ossa::archive
