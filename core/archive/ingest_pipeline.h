#pragma once
// Group commit: the one writer that makes received instances durable.
//
// Ingest threads (one per association, or import workers) hand over a written (not yet durable)
// temp file (named tmp/<final name>) and its index record, and block. The writer takes every
// instance waiting at that moment as one batch:
//   1. makes the batch's folder entries durable (one fsync of tmp/, skipped when every file came
//      from the pool of files created durably ahead of time),
//   2. when a record would replace an instance already stored (storage.duplicates: overwrite),
//      flushes first, so a replaced instance is never traded for a file that is not yet durable,
//   3. indexes all rows in ONE transaction, not yet flushed,
//   4. flushes the file systems of the store and the index with syncfs (FilesystemSync): the
//      files' data and the transaction become durable together, with one journal commit and one
//      disk flush for the whole batch,
//   5. renames the files into place; deletes the kept duplicates' files and replaced files,
//   6. wakes the ingest threads, which now answer success.
// Crash safety: until step 4 returns nothing is acknowledged. A crash can leave a committed row
// whose tmp/ file did not reach the disk (the transaction's pages did, the file's did not); such a
// file is still in tmp/ and start-up checks every indexed tmp/ file against its row (size, and
// that DCMTK reads it with the row's SOP Instance UID) and drops the rows of those that fail: they
// were never acknowledged, and step 2 makes sure they replaced nothing. Everything else in tmp/
// is either moved into place (indexed and valid) or deleted (unknown). Start-up never scans the
// store.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

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

class IngestPipeline {
 public:
  // `durability` flushes the file systems of `store` and of `index`.
  IngestPipeline(storage::FileStore& store, index::Index& index, index::DuplicatePolicy policy,
                 const storage::FilesystemSync& durability);
  ~IngestPipeline();  // finishes the queued batches, then stops
  IngestPipeline(const IngestPipeline&) = delete;
  IngestPipeline& operator=(const IngestPipeline&) = delete;

  // Makes the instance durable and indexed; returns once it is (or throws IngestFailure).
  // `temp` must be a complete file under the store's tmp/ (written and closed, not necessarily
  // flushed); it is consumed either way. `record.file_path` is set here.
  index::StoreResult commit(index::InstanceRecord& record, const std::filesystem::path& temp);

 private:
  struct Item {
    index::InstanceRecord* record;
    std::filesystem::path temp;
    std::promise<index::StoreResult> done;
  };

  void run();
  void process(std::deque<Item*>& batch);
  bool replaces_a_stored_instance(const std::vector<const index::InstanceRecord*>& records);

  storage::FileStore& store_;
  index::Index& index_;
  const index::DuplicatePolicy policy_;
  const storage::FilesystemSync& durability_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Item*> queue_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace ossa::archive
