#include "storage/temp_file_pool.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <set>

#include "util/fd.h"
#include "util/thread_name.h"

namespace ossa::storage {
namespace {

// Released files whose tmp/ names are dropped together: one pass per this many, or per second
// when fewer arrive, so that start-up after a crash checks at most about this many files. Fewer
// at a time cost the ingest: each pass dirties tmp/ and the files' inodes again, which the next
// group-commit flush must write (interleaved runs over one association: with 32, and a stock of
// 64, no faster than renaming from tmp/; with 128, ~12% faster).
constexpr size_t kCleanupBatch = 128;
constexpr auto kCleanupPeriod = std::chrono::seconds(1);

bool fsync_folder(const std::filesystem::path& folder) {
  const util::Fd fd(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return fd.get() >= 0 && ::fsync(fd.get()) == 0;
}

bool fsync_folders_of(const std::vector<std::filesystem::path>& files) {
  std::set<std::filesystem::path> folders;
  for (const auto& file : files) folders.insert(file.parent_path());
  bool all = true;
  for (const auto& folder : folders) all = fsync_folder(folder) && all;
  return all;
}

}  // namespace

TempFilePool::TempFilePool(std::filesystem::path temp_dir, std::function<std::string()> make_name,
                           std::function<std::filesystem::path(const std::string&)> final_path,
                           size_t stock)
    : temp_dir_(std::move(temp_dir)),
      make_name_(std::move(make_name)),
      final_path_(std::move(final_path)),
      stock_(stock) {
  filler_ = std::thread([this] {
    util::name_this_thread("ossa-tmp-pool");
    run();
  });
}

TempFilePool::~TempFilePool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  filler_.join();
  // Files nobody took: their final names go first (durably, in drop_released), then tmp/'s.
  for (const auto& path : ready_) {
    ::unlink(path.c_str());
    released_removed_.push_back(path);
  }
  ready_.clear();
  drop_released();
}

std::filesystem::path TempFilePool::temp_path_of(const std::filesystem::path& final_path) const {
  return temp_dir_ / final_path.filename();
}

std::pair<std::filesystem::path, bool> TempFilePool::take() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (ready_.empty()) {
    lock.unlock();
    wake_.notify_one();
    return {temp_dir_ / make_name_(), false};
  }
  std::filesystem::path path = std::move(ready_.front());
  ready_.pop_front();
  const bool low = ready_.size() < stock_ / 2;
  lock.unlock();
  if (low) wake_.notify_one();
  return {std::move(path), true};
}

void TempFilePool::release(const std::filesystem::path& final_path, bool removed) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& list = removed ? released_removed_ : released_in_place_;
    list.push_back(final_path);
    wake = released_in_place_.size() + released_removed_.size() >= kCleanupBatch;
  }
  if (wake) wake_.notify_one();
}

void TempFilePool::drop_released() {
  const std::lock_guard<std::mutex> one_at_a_time(cleanup_mutex_);
  std::vector<std::filesystem::path> in_place;
  std::vector<std::filesystem::path> removed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    in_place.swap(released_in_place_);
    removed.swap(released_removed_);
  }
  for (const auto& path : in_place) ::unlink(temp_path_of(path).c_str());
  // A removed file's tmp/ name may go only once the removal of its final name is durable: the
  // other way round, a crash could leave a final name that start-up would never find.
  if (removed.empty()) return;
  if (!fsync_folders_of(removed)) return;  // keep the tmp/ names: start-up deletes both
  for (const auto& path : removed) ::unlink(temp_path_of(path).c_str());
}

void TempFilePool::run() {
  while (true) {
    size_t wanted = 0;
    bool released = false;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait_for(lock, kCleanupPeriod, [this] {
        return stopping_ || ready_.size() < stock_ / 2 ||
               released_in_place_.size() + released_removed_.size() >= kCleanupBatch;
      });
      if (stopping_) return;
      if (ready_.size() < stock_ / 2) wanted = stock_ - ready_.size();
      released = !released_in_place_.empty() || !released_removed_.empty();
    }
    if (released) drop_released();
    if (wanted > 0) refill(wanted);
  }
}

void TempFilePool::refill(size_t wanted) {
  std::vector<std::string> names;
  for (size_t i = 0; i < wanted; ++i) {
    std::string name = make_name_();
    const util::Fd fd(
        ::open((temp_dir_ / name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
    if (fd.get() < 0) break;  // disk full or similar: callers fall back to fresh names
    names.push_back(std::move(name));
  }
  // 1. The tmp/ names are durable before any final name exists (one folder fsync for all).
  if (names.empty() || !fsync_folder(temp_dir_)) {
    for (const auto& name : names) ::unlink((temp_dir_ / name).c_str());
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
    return;
  }
  // 2. The final names (files that arrive together share a folder: one or two fsyncs).
  std::vector<std::filesystem::path> linked;
  for (const auto& name : names) {
    const std::filesystem::path temp = temp_dir_ / name;
    std::filesystem::path final_path = final_path_(name);
    if (::link(temp.c_str(), final_path.c_str()) == 0) {
      linked.push_back(std::move(final_path));
    } else {
      ::unlink(temp.c_str());
    }
  }
  if (linked.empty() || !fsync_folders_of(linked)) {
    // No hard links on this file system, or an I/O error: callers get fresh tmp/ names (renamed
    // into place), and the pool tries again in a second rather than spinning.
    for (const auto& path : linked) ::unlink(path.c_str());
    std::unique_lock<std::mutex> lock(mutex_);
    released_removed_.insert(released_removed_.end(), linked.begin(), linked.end());
    wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& path : linked) ready_.push_back(std::move(path));
}

}  // namespace ossa::storage
