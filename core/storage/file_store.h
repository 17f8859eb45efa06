#pragma once
// The file store: where DICOM files live on disk and how they get there durably.
//
// Layout: <root>/<2 hex>/<32 hex>.dcm (256 folders made once, so no file costs a mkdir). Names are
// chosen here (the time and random digits, see file_name_at), never derived from anything a peer
// sends, and every relative path coming back from the index is checked against that shape before
// it touches the file system.
//
// A new file is written and fsynced as <root>/tmp/<32 hex>.dcm: its final name is fixed from the
// start. Once its index row is committed it is renamed into <2 hex>/. Renames are atomic, so after
// a crash the file is either in place or still in tmp/ under the name the index knows; start-up
// finishes such moves and deletes every tmp/ file the index does not know.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_set>
#include <utility>
#include <vector>

#include "storage/temp_file_pool.h"
#include <stdexcept>
#include <string>

namespace ossa::storage {

class StorageError : public std::runtime_error {
 public:
  StorageError(const std::string& what, int error_number);
  int error_number() const { return errno_; }
  bool is_disk_full() const;

 private:
  int errno_;
};

class FileStore {
 public:
  explicit FileStore(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }
  const std::filesystem::path& temp_dir() const { return temp_dir_; }

  ~FileStore();

  // Starts keeping empty files ready in tmp/ (see temp_file_pool.h). Only after crash recovery,
  // which deletes unknown tmp/ files.
  void start_temp_pool(size_t stock = 64);
  // A path under tmp/ for an incoming file: a ready, durable empty file when the pool has one,
  // else a fresh name (the file is not created).
  std::filesystem::path new_temp_path() const;
  // Removes a temp file that will not be stored.
  void discard_temp(const std::filesystem::path& temp) const;
  // The stored (relative) path a temp file will have: "a1/a1f0123...ef.dcm". Throws when the
  // temp file was not named by new_temp_path().
  static std::string relative_path_for(const std::filesystem::path& temp);
  // The absolute path for a relative path from the index; throws if it is not of Ossa's shape.
  std::filesystem::path absolute(const std::string& relative) const;
  static bool is_valid_relative_path(const std::string& relative);
  // The name of a new file made at `when`: "<32 hex>.dcm", whose first two digits (the folder)
  // change every ~8.4 s; unique by its time and 64 random bits.
  static std::string file_name_at(std::chrono::system_clock::time_point when);

  // Copies `source` to a new temp file (not flushed: the ingest pipeline flushes each batch);
  // returns the temp path.
  std::filesystem::path copy_to_temp(const std::filesystem::path& source) const;
  // Makes the folder entries of these temp files durable, with one fsync of tmp/ when any of them
  // was not made durable ahead of time by the pool (their data may still be in the page cache).
  void sync_temp_entries(const std::vector<std::filesystem::path>& temps) const;
  // Renames a temp file to its final place (see the layout above for why no fsync is needed).
  void move_into_place(const std::filesystem::path& temp) const;
  // Removes a stored file; a missing file is not an error. Returns false on other errors.
  bool remove(const std::string& relative) const noexcept;
  // Start-up: moves into place the tmp/ files the index knows (committed before a crash could
  // move them) and deletes the rest (transfers that never completed). Returns {moved, deleted}.
  std::pair<size_t, size_t> recover_temp(
      const std::function<bool(const std::string& relative)>& is_indexed) const;
  uint64_t free_bytes() const;

 private:
  void create_folders() const;
  std::filesystem::path fresh_temp_name() const;

  std::filesystem::path root_;
  std::filesystem::path temp_dir_;
  std::unique_ptr<TempFilePool> pool_;
  mutable std::mutex fresh_mutex_;
  mutable std::unordered_set<std::string> fresh_;  // temp names whose folder entry is not durable
};

}  // namespace ossa::storage
