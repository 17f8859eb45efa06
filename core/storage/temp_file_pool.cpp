#include "storage/temp_file_pool.h"
#include "util/thread_name.h"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

namespace ossa::storage {

TempFilePool::TempFilePool(std::filesystem::path dir,
                           std::function<std::filesystem::path()> make_name, size_t stock)
    : dir_(std::move(dir)), make_name_(std::move(make_name)), stock_(stock) {
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
  for (const auto& path : ready_) {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
  }
}

std::pair<std::filesystem::path, bool> TempFilePool::take() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (ready_.empty()) {
    lock.unlock();
    wake_.notify_one();
    return {make_name_(), false};
  }
  std::filesystem::path path = std::move(ready_.front());
  ready_.pop_front();
  const bool low = ready_.size() < stock_ / 2;
  lock.unlock();
  if (low) wake_.notify_one();
  return {std::move(path), true};
}

void TempFilePool::run() {
  while (true) {
    size_t wanted = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || ready_.size() < stock_ / 2; });
      if (stopping_) return;
      wanted = stock_ - ready_.size();
    }
    std::vector<std::filesystem::path> made;
    for (size_t i = 0; i < wanted; ++i) {
      std::filesystem::path path = make_name_();
      const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
      if (fd < 0) break;  // disk full or similar: callers fall back to fresh names
      ::close(fd);
      made.push_back(std::move(path));
    }
    if (made.empty()) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
      continue;
    }
    // One folder fsync makes all their entries durable.
    const int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const bool synced = dir_fd >= 0 && ::fsync(dir_fd) == 0;
    if (dir_fd >= 0) ::close(dir_fd);
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& path : made) {
      if (synced) {
        ready_.push_back(std::move(path));
      } else {
        std::error_code ignored;
        std::filesystem::remove(path, ignored);
      }
    }
  }
}

}  // namespace ossa::storage
