#pragma once
// Group commit: the one writer that makes received instances durable.
//
// Ingest threads (one per association, or import workers) hand over a fsynced temp file (named
// tmp/<final name>) and its index record, and block. The writer takes every instance waiting at
// that moment as one batch:
//   1. fsync tmp/ once, so every file of the batch is durable under its final name (skipped when
//      all of them came from the pool of files made durable ahead of time),
//   2. index all rows in ONE transaction (SQLite WAL, synchronous=FULL),
//   3. rename the files into place; delete the kept duplicates' files and replaced files,
//   4. wake the ingest threads, which now answer success.
// Durability costs one directory fsync and one WAL fsync per batch, not per instance. At any crash
// point each file is either indexed (in place, or in tmp/ where start-up moves it) or unknown to
// the index and in tmp/ (start-up deletes it): never an index row without its file, and start-up
// never scans the store.

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
  IngestPipeline(storage::FileStore& store, index::Index& index, index::DuplicatePolicy policy);
  ~IngestPipeline();  // finishes the queued batches, then stops
  IngestPipeline(const IngestPipeline&) = delete;
  IngestPipeline& operator=(const IngestPipeline&) = delete;

  // Makes the instance durable and indexed; returns once it is (or throws IngestFailure).
  // `synced_temp` must be a fsynced file under the store's tmp/; it is consumed either way.
  // `record.file_path` is set here.
  index::StoreResult commit(index::InstanceRecord& record,
                            const std::filesystem::path& synced_temp);

 private:
  struct Item {
    index::InstanceRecord* record;
    std::filesystem::path temp;
    std::promise<index::StoreResult> done;
  };

  void run();
  void process(std::deque<Item*>& batch);

  storage::FileStore& store_;
  index::Index& index_;
  const index::DuplicatePolicy policy_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Item*> queue_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace ossa::archive
