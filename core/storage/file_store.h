#pragma once
// The file store: where DICOM files live on disk and how they get there durably.
//
// Layout: <root>/<3 hex>/<32 hex>.dcm. Names are random, chosen here, never derived from anything a
// peer sends, and every relative path coming back from the index is checked against that shape
// before it touches the file system. New files are first written (and fsynced) under <root>/tmp/,
// then moved into place and their folder fsynced; tmp/ is emptied at start-up.

#include <cstdint>
#include <filesystem>
#include <set>
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

  // A fresh path under tmp/ for an incoming file (nothing is created).
  std::filesystem::path new_temp_path() const;
  // A fresh relative path for a stored file ("a1f/0123...ef.dcm").
  std::string allocate_relative_path() const;
  // The absolute path for a relative path from the index; throws if it is not of Ossa's shape.
  std::filesystem::path absolute(const std::string& relative) const;
  static bool is_valid_relative_path(const std::string& relative);

  // Writes the file's data to disk (fsync).
  static void sync_file(const std::filesystem::path& file);
  // Copies `source` to a new temp file and fsyncs it; returns the temp path.
  std::filesystem::path copy_to_temp(const std::filesystem::path& source) const;
  // Renames a synced temp file to its final place. Adds the folders whose entries changed to
  // `dirs_to_sync`; the move is durable only after sync_directories().
  void move_into_place(const std::filesystem::path& temp, const std::string& relative,
                       std::set<std::filesystem::path>& dirs_to_sync) const;
  static void sync_directories(const std::set<std::filesystem::path>& dirs);
  // Removes a stored file; a missing file is not an error. Returns false on other errors.
  bool remove(const std::string& relative) const noexcept;
  // Deletes everything in tmp/ (start-up: files of transfers that never completed).
  size_t clean_temp() const;
  uint64_t free_bytes() const;

 private:
  std::filesystem::path root_;
  std::filesystem::path temp_dir_;
};

}  // namespace ossa::storage
