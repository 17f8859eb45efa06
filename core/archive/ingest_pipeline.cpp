#include "archive/ingest_pipeline.h"

#include <set>
#include <vector>

#include "index/sqlite.h"
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
      std::error_code ignored;
      std::filesystem::remove(synced_temp, ignored);
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
  auto fail = [](Item* item, const IngestFailure& why) {
    item->done.set_exception(std::make_exception_ptr(why));
  };
  auto discard_temp = [](Item* item) {
    std::error_code ignored;
    std::filesystem::remove(item->temp, ignored);
  };

  std::vector<std::string> paths;
  for (Item* item : batch) {
    item->record->file_path = store_.allocate_relative_path();
    paths.push_back(item->record->file_path);
  }
  // 1. Journal the paths.
  try {
    index_.add_pending_files(paths);
  } catch (const std::exception& e) {
    log::error("cannot journal ", batch.size(), " incoming files: ", e.what());
    for (Item* item : batch) {
      discard_temp(item);
      fail(item, failure_from(e));
    }
    return;
  }
  // 2. Move into place, one folder fsync per folder.
  std::set<std::filesystem::path> dirs;
  std::vector<Item*> placed;
  for (Item* item : batch) {
    try {
      store_.move_into_place(item->temp, item->record->file_path, dirs);
      placed.push_back(item);
    } catch (const std::exception& e) {
      log::error("cannot store a received file: ", e.what());
      discard_temp(item);
      fail(item, failure_from(e));
    }
  }
  auto abandon_placed = [&](const std::exception& e) {
    std::vector<std::string> removed;
    for (Item* item : placed) {
      if (store_.remove(item->record->file_path)) removed.push_back(item->record->file_path);
      fail(item, failure_from(e));
    }
    try {
      index_.remove_pending_files(removed);
    } catch (const std::exception&) {
      // Left in the journal: start-up deletes what is not indexed.
    }
  };
  try {
    storage::FileStore::sync_directories(dirs);
  } catch (const std::exception& e) {
    log::error("cannot make stored files durable: ", e.what());
    abandon_placed(e);
    return;
  }
  // 3. Index the batch in one transaction.
  std::vector<const index::InstanceRecord*> records;
  for (Item* item : placed) records.push_back(item->record);
  std::vector<index::StoreResult> results;
  try {
    results = index_.store_instances(records, policy_);
  } catch (const std::exception& e) {
    log::error("cannot index ", records.size(), " instances: ", e.what());
    abandon_placed(e);
    return;
  }
  // 4. Delete what the batch made obsolete; the journal covers a crash in between.
  std::vector<std::string> obsolete;
  for (const auto& result : results) {
    if (!result.obsolete_file.empty() && store_.remove(result.obsolete_file))
      obsolete.push_back(result.obsolete_file);
  }
  try {
    index_.remove_pending_files(obsolete);
  } catch (const std::exception& e) {
    log::warning("obsolete files stay journalled until the next start: ", e.what());
  }
  for (size_t i = 0; i < placed.size(); ++i) placed[i]->done.set_value(results[i]);
}

}  // namespace ossa::archive
