#include "storage/filesystem_sync.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "storage/file_store.h"

namespace ossa::storage {

FilesystemSync::FilesystemSync(const std::vector<std::filesystem::path>& folders) {
  std::vector<dev_t> devices;
  for (const auto& folder : folders) {
    util::Fd fd(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct stat info {};
    if (fd.get() < 0 || ::fstat(fd.get(), &info) != 0) {
      const int e = errno;
      throw StorageError("cannot open " + folder.string() + ": " + std::strerror(e), e);
    }
    bool seen = false;
    for (dev_t d : devices) seen = seen || d == info.st_dev;
    if (seen) continue;
    devices.push_back(info.st_dev);
    descriptors_.push_back(std::move(fd));
    names_.push_back(folder);
  }
}

void FilesystemSync::sync() const {
  for (size_t i = 0; i < descriptors_.size(); ++i) {
    if (::syncfs(descriptors_[i].get()) != 0) {
      const int e = errno;
      throw StorageError(
          "cannot flush the file system of " + names_[i].string() + ": " + std::strerror(e), e);
    }
  }
}

}  // namespace ossa::storage
