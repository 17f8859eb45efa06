#pragma once
// Group commit: the one writer that makes received instances durable.
//
// Ingest threads (one per association, or import workers) hand over a written (not yet durable)
// new file and its index record, and block: usually a file the store prepared in its final folder,
// which also has a name in tmp/ (storage/temp_file_pool.h), else tmp/<final name>. The writer
// takes every instance waiting at that moment as one batch:
//   1. makes the batch's folder entries durable (one fsync of tmp/, skipped when every file came
//      from the pool of files created durably ahead of time),
//   2. indexes all rows in ONE transaction, not yet flushed,
//   3. when a record replaces an instance already stored (storage.duplicates: overwrite), flushes
//      the files inside that transaction before the first replacement is written, so a replaced
//      instance is never traded for a file that is not yet durable,
//   4. flushes the file systems of the store and the index with syncfs (FilesystemSync): the
//      files' data and the transaction become durable together, with one journal commit and one
//      disk flush for the whole batch,
//   5. settles the files in place (a prepared file is there already and only its tmp/ name goes,
//      later and in bulk; a tmp/ file is renamed); deletes the kept duplicates' files and
//      replaced files,
//   6. wakes the ingest threads, which now answer success.
// Gathering: a flush is a disk round trip, and its cost hardly depends on how many instances it
// covers. A sender whose instance was just acknowledged (an association streaming a study) is
// usually back with the next one within a fraction of a flush; if the writer took the batch
// without it, it would wait for that whole flush and then its own, and N busy associations would
// split into groups that take turns. So when the batch that was just answered had such senders
// (IngestStream), the writer waits for them to return before taking the next batch, at most as
// long as the last flush took (within GatherWindow's bounds) and only once: a sender that does not
// return in time is not waited for again until it is back. It waits only while senders usually
// come back within that time (small instances: a fraction of a flush); when they take longer
// (large instances, whose flush is bound by the bytes it writes) waiting would idle the disk.
// Crash safety: until step 4 returns nothing is acknowledged. A crash can leave a committed row
// whose file did not reach the disk (the transaction's pages did, the file's did not); such a
// file still has its tmp/ name, and start-up checks every indexed file with a tmp/ name against
// its row (size, and that DCMTK reads it with the row's SOP Instance UID) and drops the rows of
// those that fail: they were never acknowledged, and step 3 makes sure they replaced nothing.
// Every other file with a tmp/ name is either kept in place (indexed and valid) or deleted
// (unknown). After a failed flush a batch's files keep their tmp/ names for the same reason.
// Start-up never scans the store.

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "archive/ingest_stream.h"
#include "index/index.h"
#include "storage/file_store.h"
#include "storage/filesystem_sync.h"

namespace ossa::archive {

// A failure of the archive itself (not of the instance), with the DIMSE status to report.
class IngestFailure : public std::runtime_error {
 public:
  IngestFailure(uint16_t dimse_status, const std::string& message)
      : std::runtime_error(message), status_(dimse_status) {}
  uint16_t dimse_status() const { return status_; }

 private:
  uint16_t status_;
};

// How long the writer may wait for senders it expects back: as long as the last flush took, but
// at least `at_least` and at most `at_most` (an instance already queued never waits longer).
struct GatherWindow {
  std::chrono::microseconds at_least{0};
  std::chrono::microseconds at_most{2000};
};

class IngestPipeline {
 public:
  // `durability` flushes the file systems of `store` and of `index`.
  IngestPipeline(storage::FileStore& store, index::Index& index, index::DuplicatePolicy policy,
                 const storage::FilesystemSync& durability, GatherWindow gather = {});
  ~IngestPipeline();  // finishes the queued batches, then stops
  IngestPipeline(const IngestPipeline&) = delete;
  IngestPipeline& operator=(const IngestPipeline&) = delete;

  // Makes the instance durable and indexed; returns once it is (or throws IngestFailure).
  // `temp` must be a complete file under the store's tmp/ (written and closed, not necessarily
  // flushed); it is consumed either way. `record.file_path` is set here.
  // `stream`: the caller's IngestStream when it sends instance after instance (else null).
  index::StoreResult commit(index::InstanceRecord& record, const std::filesystem::path& temp,
                            IngestStream* stream = nullptr);

  IngestStats stats() const;

 private:
  struct Item {
    index::InstanceRecord* record;
    std::filesystem::path temp;
    IngestStream* stream;
    std::promise<index::StoreResult> done;
  };

  void run();
  // With the lock held and the queue not empty: waits for the senders just answered to return.
  void gather(std::unique_lock<std::mutex>& lock);
  // With the lock held: the batch is answered; its streaming senders are now expected back.
  void expect_back(const std::deque<Item*>& batch);
  // With the lock held: the median of recent_returns_ (zero when none is known yet).
  std::chrono::steady_clock::duration typical_return() const;
  void process(std::deque<Item*>& batch);

  storage::FileStore& store_;
  index::Index& index_;
  const index::DuplicatePolicy policy_;
  const storage::FilesystemSync& durability_;
  const GatherWindow gather_window_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Item*> queue_;
  uint64_t answered_batch_ = 0;  // number of the last batch answered (batches count from 1)
  size_t expected_back_ = 0;     // its streaming senders that have not returned yet
  // How long senders took from an answer to their next instance, the last few times.
  std::array<std::chrono::steady_clock::duration, 8> recent_returns_{};
  size_t returns_seen_ = 0;
  std::chrono::steady_clock::duration last_flush_{};  // the writer's own
  IngestStats stats_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace ossa::archive
