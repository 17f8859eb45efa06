#pragma once
// Group commit: the one writer that makes received instances durable.
//
// Ingest threads (one per association, or import workers) hand over a fsynced temp file and its
// index record and block. The writer takes every instance waiting at that moment as one batch:
//   1. journal the batch's final paths in pending_files (committed),
//   2. rename the temp files into place and fsync their folders once per folder,
//   3. index all rows in one transaction, removing their journal entries,
//   4. delete files made obsolete (replaced duplicates), then wake the ingest threads.
// So durability costs two fsyncs of the WAL per batch instead of per instance, and at any crash
// point a file is either indexed or listed in pending_files for start-up to delete: never an
// index row without its file, never a stray file start-up must scan for.

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
  index::StoreResult commit(index::InstanceRecord& record, const std::filesystem::path& synced_temp);

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
