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
                               index::DuplicatePolicy policy)
    : store_(store), index_(index), policy_(policy), writer_([this] { run(); }) {}

IngestPipeline::~IngestPipeline() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  writer_.join();
}

index::StoreResult IngestPipeline::commit(index::InstanceRecord& record,
                                          const std::filesystem::path& synced_temp) {
  Item item{&record, synced_temp, {}};
  std::future<index::StoreResult> done = item.done.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      store_.discard_temp(synced_temp);
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
    // 1. The batch's files are durable under their final names.
    store_.sync_temp_entries(temps);
  } catch (const std::exception& e) {
    log::error("cannot make ", batch.size(), " received files durable: ", e.what());
    fail_all(e);
    return;
  }
  // 2. One transaction for the whole batch.
  std::vector<index::StoreResult> results;
  try {
    results = index_.store_instances(records, policy_);
  } catch (const std::exception& e) {
    log::error("cannot index ", records.size(), " instances: ", e.what());
    fail_all(e);
    return;
  }
  // 3. Committed: move into place, and clean up what the batch made obsolete.
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
      // Indexed and durable in tmp/; the next start-up finishes the move.
      log::error("stored instance stays in tmp/ until restart: ", e.what());
    }
    if (!results[i].obsolete_file.empty() && store_.remove(results[i].obsolete_file))
      obsolete.push_back(results[i].obsolete_file);
  }
  try {
    index_.remove_pending_files(obsolete);
  } catch (const std::exception& e) {
    log::warning("replaced files stay journalled until the next start: ", e.what());
  }
  // 4. Answer.
  for (size_t i = 0; i < batch.size(); ++i) batch[i]->done.set_value(results[i]);
}

}  // namespace ossa::archive
