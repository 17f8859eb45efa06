#pragma once
// The file store: where DICOM files live on disk and how they get there durably.
//
// Layout: <root>/<2 hex>/<32 hex>.dcm (256 folders made once, so no file costs a mkdir). Names are
// chosen here (the time and random digits, see file_name_at), never derived from anything a peer
// sends, and every relative path coming back from the index is checked against that shape before
// it touches the file system.
//
// A new file is usually one the pool of prepared files made ahead of time (temp_file_pool.h): an
// empty file in its final folder that also has a name in <root>/tmp/. It is written through its
// final name, and once it is durable and indexed only its tmp/ name is dropped. When the pool has
// none ready, a new file is written as <root>/tmp/<32 hex>.dcm (its final name is fixed from the
// start) and renamed into <2 hex>/ once durable and indexed. Either way, every file whose fate
// was open at a crash has a tmp/ name: start-up checks each one the index knows and keeps it in
// place, and deletes every file the index does not know (final name first).

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

  // Starts keeping empty files ready in their final folders (see temp_file_pool.h). Only after
  // crash recovery, which deletes unknown tmp/ files.
  void start_temp_pool(size_t stock = 128);
  // A path for an incoming file: a prepared, durable empty file in its final folder when the
  // pool has one, else a fresh name under tmp/ (the file is not created).
  std::filesystem::path new_temp_path() const;
  // Removes a new file that will not be stored.
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
  // A new file is durable and indexed: renames a tmp/ file to its final place (see the layout
  // above for why no fsync is needed); a prepared file is there already and its tmp/ name is
  // dropped soon after, in bulk.
  void move_into_place(const std::filesystem::path& temp) const;
  // Drops the tmp/ names of the prepared files settled so far now (the pool does it on its own
  // within a second; for tests and orderly shutdown).
  void drop_released_temp_names() const;
  // Removes a stored file; a missing file is not an error. Returns false on other errors.
  bool remove(const std::string& relative) const noexcept;
  // Start-up: keeps in place the files with a tmp/ name that the index knows (committed before a
  // crash could settle them; `is_indexed` gets the relative path and the file to check) and
  // deletes the rest (prepared and unused, or transfers that never completed).
  // Returns {kept in place, deleted}.
  std::pair<size_t, size_t> recover_temp(
      const std::function<bool(const std::string& relative, const std::filesystem::path& file)>&
          is_indexed) const;
  uint64_t free_bytes() const;

 private:
  void create_folders() const;
  std::filesystem::path fresh_temp_name() const;
  // Whether a new file's path is a prepared file's final name (not under tmp/).
  bool is_prepared(const std::filesystem::path& temp) const;

  std::filesystem::path root_;
  std::filesystem::path temp_dir_;
  std::unique_ptr<TempFilePool> pool_;
  mutable std::mutex fresh_mutex_;
  mutable std::unordered_set<std::string> fresh_;  // temp names whose folder entry is not durable
};

}  // namespace ossa::storage
