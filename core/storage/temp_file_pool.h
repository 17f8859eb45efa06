#pragma once
// Empty files made ahead of time in tmp/, with their folder entries already durable.
//
// Creating a file costs an inode allocation, and a new folder entry costs a folder fsync before
// the file can be trusted to survive a crash. Both sit on the C-STORE critical path unless done
// beforehand: a background thread keeps a stock of empty, durable files, and an incoming instance
// is written into one of them. When the stock runs dry (a burst), callers get a fresh name and the
// ingest pipeline fsyncs the folder for them.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace ossa::storage {

class TempFilePool {
 public:
  // `make_name` returns a fresh file name under `dir`; `stock` is how many files to keep ready.
  TempFilePool(std::filesystem::path dir, std::function<std::filesystem::path()> make_name,
               size_t stock);
  ~TempFilePool();  // stops the thread and deletes the files nobody took
  TempFilePool(const TempFilePool&) = delete;
  TempFilePool& operator=(const TempFilePool&) = delete;

  // A ready file if there is one (true), else a fresh name, not created (false).
  std::pair<std::filesystem::path, bool> take();

 private:
  void run();

  const std::filesystem::path dir_;
  const std::function<std::filesystem::path()> make_name_;
  const size_t stock_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::filesystem::path> ready_;
  bool stopping_ = false;
  std::thread filler_;
};

}  // namespace ossa::storage
