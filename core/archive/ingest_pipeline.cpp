#include "archive/ingest_pipeline.h"

#include <vector>

#include "util/log.h"

namespace ossa::archive {
namespace {

constexpr size_t kMaxBatch = 512;
constexpr uint16_t kStatusOutOfResources = 0xA700;

IngestFailure failure_from(const std::exception& e) {
  return IngestFailure(kStatusOutOfResources, e.what());
}

}  // namespace

IngestPipeline::IngestPipeline(storage::FileStore& store, index::Index& index,
                               index::DuplicatePolicy policy,
                               const storage::FilesystemSync& durability)
    : store_(store), index_(index), policy_(policy), durability_(durability), writer_([this] {
        run();
      }) {}

IngestPipeline::~IngestPipeline() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  writer_.join();
}

index::StoreResult IngestPipeline::commit(index::InstanceRecord& record,
                                          const std::filesystem::path& temp) {
  Item item{&record, temp, {}};
  std::future<index::StoreResult> done = item.done.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      store_.discard_temp(temp);
      throw IngestFailure(kStatusOutOfResources, "the archive is shutting down");
    }
    queue_.push_back(&item);
  }
  wake_.notify_one();
  return done.get();  // rethrows the writer's IngestFailure
}

void IngestPipeline::run() {
  while (true) {
    std::deque<Item*> batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to write
      while (!queue_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    process(batch);
  }
}

bool IngestPipeline::replaces_a_stored_instance(
    const std::vector<const index::InstanceRecord*>& records) {
  if (policy_ != index::DuplicatePolicy::kOverwrite)
    return false;  // kept duplicates change nothing
  for (const index::InstanceRecord* record : records) {
    if (index_.has_instance(record->get(index::Level::kInstance, index::tags::kSopInstanceUid)))
      return true;
  }
  return false;
}

void IngestPipeline::process(std::deque<Item*>& batch) {
  auto fail_all = [&](const std::exception& e) {
    for (Item* item : batch) {
      store_.discard_temp(item->temp);
      item->done.set_exception(std::make_exception_ptr(failure_from(e)));
    }
  };
  std::vector<const index::InstanceRecord*> records;
  std::vector<std::filesystem::path> temps;
  try {
    for (Item* item : batch) {
      item->record->file_path = storage::FileStore::relative_path_for(item->temp);
      records.push_back(item->record);
      temps.push_back(item->temp);
    }
    // 1. Every file of the batch exists after a crash (possibly incomplete: start-up checks).
    store_.sync_temp_entries(temps);
    // 2. A replacement must not depend on start-up's check: its file is durable before its row.
    if (replaces_a_stored_instance(records)) durability_.sync();
  } catch (const std::exception& e) {
    log::error("cannot make ", batch.size(), " received files durable: ", e.what());
    fail_all(e);
    return;
  }
  // 3. One transaction for the whole batch.
  std::vector<index::StoreResult> results;
  try {
    results = index_.store_instances(records, policy_);
  } catch (const std::exception& e) {
    log::error("cannot index ", records.size(), " instances: ", e.what());
    fail_all(e);
    return;
  }
  // 4. Files and transaction durable together.
  std::string flush_error;
  try {
    durability_.sync();
  } catch (const std::exception& e) {
    // The rows are committed and the files complete, so they stay (start-up checks them if the
    // machine goes down); but nothing of this batch may be acknowledged as durable.
    flush_error = e.what();
    log::error("cannot flush ", batch.size(), " received instances to disk: ", flush_error);
  }
  // 5. Durable: move into place, and clean up what the batch made obsolete.
  std::vector<std::string> obsolete;
  for (size_t i = 0; i < batch.size(); ++i) {
    Item* item = batch[i];
    if (results[i].outcome == index::StoreOutcome::kKeptExisting) {
      store_.discard_temp(item->temp);
      continue;
    }
    try {
      store_.move_into_place(item->temp);
    } catch (const std::exception& e) {
      // Indexed and in tmp/; the next start-up finishes the move.
      log::error("stored instance stays in tmp/ until restart: ", e.what());
    }
    // A replaced file goes only once its replacement is known durable.
    if (flush_error.empty() && !results[i].obsolete_file.empty() &&
        store_.remove(results[i].obsolete_file))
      obsolete.push_back(results[i].obsolete_file);
  }
  try {
    index_.remove_pending_files(obsolete);
  } catch (const std::exception& e) {
    log::warning("replaced files stay journalled until the next start: ", e.what());
  }
  // 6. Answer.
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!flush_error.empty()) {
      batch[i]->done.set_exception(std::make_exception_ptr(
          IngestFailure(kStatusOutOfResources, "cannot flush to disk: " + flush_error)));
    } else {
      batch[i]->done.set_value(results[i]);
    }
  }
}

}  // namespace ossa::archive
