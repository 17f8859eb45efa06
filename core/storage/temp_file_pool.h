#pragma once
// Empty files made ahead of time in their final folders, each with a second name in tmp/, both
// names already durable.
//
// Creating a file costs an inode allocation and a folder entry, and a folder entry costs a folder
// fsync before the file can be trusted to survive a crash; moving a file from tmp/ into its final
// folder costs two more folder changes, which the group commit's flush must write. All of that
// sits on the C-STORE critical path unless done beforehand: a background thread keeps a stock of
// empty files, each created as tmp/<name> and linked as <folder>/<name> (the same inode under two
// names), and an incoming instance is written into one of them through its final name. Once the
// instance is durable nothing needs to move: the tmp/ name is dropped later, in bulk, by the
// same thread.
//
// Why the tmp/ name: it is how start-up finds, without scanning the store, every file whose fate
// was open when the server stopped (ready and unused, being received, indexed but maybe not
// flushed): each one still has its tmp/ name (FileStore::recover_temp). Order makes that hold
// after any crash: tmp/<name> is durable before <folder>/<name> is made; a tmp/ name is dropped
// only once its file is durable in place, or once the removal of its final name is durable.
//
// When the stock runs dry (a burst), callers get a fresh tmp/ name instead; the ingest pipeline
// fsyncs tmp/ for those and renames them into place.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ossa::storage {

class TempFilePool {
 public:
  // `make_name` returns a fresh file name ("<32 hex>.dcm"); `final_path` the path of a name in
  // its final folder; `stock` is how many files to keep ready.
  TempFilePool(std::filesystem::path temp_dir, std::function<std::string()> make_name,
               std::function<std::filesystem::path(const std::string&)> final_path, size_t stock);
  // Stops the thread, deletes the files nobody took and drops the tmp/ names of released files.
  ~TempFilePool();
  TempFilePool(const TempFilePool&) = delete;
  TempFilePool& operator=(const TempFilePool&) = delete;

  // A ready file's final path (true), else a fresh tmp/ path, not created (false).
  std::pair<std::filesystem::path, bool> take();
  // A file this pool handed out is settled: durable in place (`removed` false), or its final
  // name was just unlinked (`removed` true). Its tmp/ name is dropped in the next cleanup.
  void release(const std::filesystem::path& final_path, bool removed);
  // Drops the tmp/ names of every file released so far, now (the thread also does it on its own).
  void drop_released();

 private:
  void run();
  void refill(size_t wanted);
  std::filesystem::path temp_path_of(const std::filesystem::path& final_path) const;

  const std::filesystem::path temp_dir_;
  const std::function<std::string()> make_name_;
  const std::function<std::filesystem::path(const std::string&)> final_path_;
  const size_t stock_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::filesystem::path> ready_;  // final paths
  std::vector<std::filesystem::path> released_in_place_;
  std::vector<std::filesystem::path> released_removed_;
  std::mutex cleanup_mutex_;  // one cleanup at a time (the thread, drop_released, the destructor)
  bool stopping_ = false;
  std::thread filler_;
};

}  // namespace ossa::storage
