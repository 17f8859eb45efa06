#include "archive/ingest_pipeline.h"

#include <algorithm>
#include <vector>

#include "util/log.h"
#include "util/thread_name.h"

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
                               const storage::FilesystemSync& durability, GatherWindow gather)
    : store_(store),
      index_(index),
      policy_(policy),
      durability_(durability),
      gather_window_(gather),
      writer_([this] { run(); }) {}

IngestPipeline::~IngestPipeline() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  writer_.join();
}

index::StoreResult IngestPipeline::commit(index::InstanceRecord& record,
                                          const std::filesystem::path& temp, IngestStream* stream) {
  Item item{&record, temp, stream, {}};
  std::future<index::StoreResult> done = item.done.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stream != nullptr && stream->answered_in_batch != 0) {
      // How long senders take to come back: the median of the last few returns, so a sender
      // back after a pause (the next study, minutes later) changes nothing, while a change of
      // instance size shows within a few returns.
      recent_returns_[returns_seen_++ % recent_returns_.size()] =
          std::chrono::steady_clock::now() - stream->answered_at;
      if (stream->answered_in_batch == answered_batch_ && expected_back_ > 0)
        --expected_back_;  // back in time for the batch being gathered
    }
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
  util::name_this_thread("ossa-ingest");
  while (true) {
    std::deque<Item*> batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to write
      gather(lock);
      while (!queue_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    process(batch);
  }
}

void IngestPipeline::gather(std::unique_lock<std::mutex>& lock) {
  const std::chrono::steady_clock::duration longest =
      std::clamp<std::chrono::steady_clock::duration>(last_flush_, gather_window_.at_least,
                                                      gather_window_.at_most);
  // Worth it only when senders usually come back within the window: with large instances the
  // flush is bound by the bytes it writes, senders take longer to come back than it does, and
  // waiting would only leave the disk idle.
  if (expected_back_ > 0 && !stopping_ && typical_return() <= longest) {
    wake_.wait_for(lock, longest, [this] {
      return stopping_ || expected_back_ == 0 || queue_.size() >= kMaxBatch;
    });
  }
  expected_back_ = 0;  // whoever is not back now is not waited for again
}

std::chrono::steady_clock::duration IngestPipeline::typical_return() const {
  const size_t known = std::min(returns_seen_, recent_returns_.size());
  if (known == 0) return {};
  auto sorted = recent_returns_;
  std::nth_element(sorted.begin(), sorted.begin() + known / 2, sorted.begin() + known);
  return sorted[known / 2];
}

IngestStats IngestPipeline::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void IngestPipeline::expect_back(const std::deque<Item*>& batch) {
  ++answered_batch_;
  ++stats_.batches;
  stats_.instances += batch.size();
  expected_back_ = 0;
  const auto now = std::chrono::steady_clock::now();
  for (Item* item : batch) {
    if (item->stream == nullptr) continue;
    item->stream->answered_in_batch = answered_batch_;
    item->stream->answered_at = now;
    ++expected_back_;
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
    // 1. Every file of the batch exists after a crash (possibly incomplete: start-up checks).
    store_.sync_temp_entries(temps);
  } catch (const std::exception& e) {
    log::error("cannot make ", batch.size(), " received files durable: ", e.what());
    fail_all(e);
    return;
  }
  // 2 and 3. One transaction for the whole batch; a replacement must not depend on start-up's
  // check, so the first one in the batch flushes the batch's files before its row is written.
  std::vector<index::StoreResult> results;
  try {
    results = index_.store_instances(records, policy_, [this] { durability_.sync(); });
  } catch (const std::exception& e) {
    log::error("cannot index ", records.size(), " instances: ", e.what());
    fail_all(e);
    return;
  }
  // 4. Files and transaction durable together.
  std::string flush_error;
  try {
    const auto flush_start = std::chrono::steady_clock::now();
    durability_.sync();
    last_flush_ = std::chrono::steady_clock::now() - flush_start;
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
    // After a failed flush the file keeps its tmp/ name: if the machine goes down, start-up
    // checks it against its row.
    if (flush_error.empty()) {
      try {
        store_.move_into_place(item->temp);
      } catch (const std::exception& e) {
        // Indexed and in tmp/; the next start-up finishes the move.
        log::error("stored instance stays in tmp/ until restart: ", e.what());
      }
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
  {
    std::lock_guard<std::mutex> lock(mutex_);
    expect_back(batch);  // before the senders can return
  }
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
