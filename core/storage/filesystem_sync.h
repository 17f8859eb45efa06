#pragma once
// One flush that makes everything written so far durable: files, folder entries and the index.
//
// fsync per file costs one journal commit and one disk-cache flush per file, on top of the index's
// own WAL fsync: on a disk whose flush takes ~2 ms that is the whole budget of a C-STORE. syncfs(2)
// writes back every dirty page of a file system, commits its journal once and flushes the disk
// cache once, so a group-commit batch of N instances and its index transaction become durable
// with ONE flush instead of N + 1. Since Linux 5.8 syncfs also reports write-back errors.
//
// Holds one descriptor per distinct file system among the paths it is given (the store and the
// index are usually on the same one, so a batch costs a single syncfs).

#include <filesystem>
#include <vector>

#include "util/fd.h"

namespace ossa::storage {

class FilesystemSync {
 public:
  // `folders` must exist. Throws StorageError when one cannot be opened.
  explicit FilesystemSync(const std::vector<std::filesystem::path>& folders);

  // Returns once every file system is flushed; throws StorageError (with errno) otherwise.
  void sync() const;
  size_t filesystems() const { return descriptors_.size(); }

 private:
  std::vector<util::Fd> descriptors_;
  std::vector<std::filesystem::path> names_;  // for error messages
};

}  // namespace ossa::storage
