#include "storage/file_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <random>
#include <set>

#include "util/fd.h"

namespace ossa::storage {
namespace {

// Random digits: with the time, they make names unique without coordination between threads or
// processes (file_name_at).
std::string random_hex(size_t digits) {
  thread_local std::mt19937_64 engine([] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }());
  static const char* const kHex = "0123456789abcdef";
  std::string out;
  out.reserve(digits);
  while (out.size() < digits) {
    uint64_t bits = engine();
    for (int i = 0; i < 16 && out.size() < digits; ++i, bits >>= 4) out += kHex[bits & 0xf];
  }
  return out;
}

using util::Fd;

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
  const int e = errno;
  throw StorageError(what + " " + path.string() + ": " + std::strerror(e), e);
}

void sync_path(const std::filesystem::path& path, int flags) {
  Fd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (fd.get() < 0) fail("cannot open", path);
  if (::fsync(fd.get()) != 0) fail("cannot fsync", path);
}

bool is_hex(const std::string& s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

StorageError::StorageError(const std::string& what, int error_number)
    : std::runtime_error(what), errno_(error_number) {}

bool StorageError::is_disk_full() const {
  return errno_ == ENOSPC || errno_ == EDQUOT;
}

FileStore::FileStore(std::filesystem::path root)
    : root_(std::move(root)), temp_dir_(root_ / "tmp") {
  std::error_code ec;
  std::filesystem::create_directories(temp_dir_, ec);
  if (ec)
    throw StorageError("cannot create " + temp_dir_.string() + ": " + ec.message(), ec.value());
  create_folders();
}

void FileStore::create_folders() const {
  // Made in order, so the last one existing means all do: start-up checks one path.
  if (::access((root_ / "ff").c_str(), F_OK) == 0) return;
  static const char* const kHex = "0123456789abcdef";
  for (int i = 0; i < 256; ++i) {
    const char name[3] = {kHex[i >> 4], kHex[i & 15], '\0'};
    const std::filesystem::path dir = root_ / name;
    if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) fail("cannot create", dir);
  }
  sync_path(root_, O_RDONLY | O_DIRECTORY);
}

FileStore::~FileStore() = default;

std::filesystem::path FileStore::fresh_temp_name() const {
  return temp_dir_ / file_name_at(std::chrono::system_clock::now());
}

std::string FileStore::file_name_at(std::chrono::system_clock::time_point when) {
  // The folder (2 digits), then the time in microseconds (14 digits), then 16 random digits.
  // The folder follows the clock too, moving to the next of the 256 every 2^23 us (~8.4 s): the
  // instances that arrive together share one folder, so a group-commit flush writes one folder
  // block and one folder inode instead of one of each per instance (measured: ~8% more instances
  // per second over 4 associations, and less written per flush), while over hours every folder
  // gets its share. The time in the middle makes the index's B-tree of file paths grow at its
  // right edge instead of at a random leaf per instance: its pages stay in the cache however
  // large the archive grows (random names made ingest slow down with size).
  const auto micros = static_cast<unsigned long long>(
      std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count());
  char folder_and_time[17];
  std::snprintf(folder_and_time, sizeof folder_and_time, "%02llx%014llx", (micros >> 23) & 0xff,
                micros & 0xffffffffffffffULL);
  return folder_and_time + random_hex(16) + ".dcm";
}

void FileStore::start_temp_pool(size_t stock) {
  if (!pool_)
    pool_ = std::make_unique<TempFilePool>(
        temp_dir_, [] { return file_name_at(std::chrono::system_clock::now()); },
        [this](const std::string& name) { return root_ / name.substr(0, 2) / name; }, stock);
}

std::filesystem::path FileStore::new_temp_path() const {
  if (pool_) {
    auto [path, prepared] = pool_->take();
    if (prepared) return path;
    std::lock_guard<std::mutex> lock(fresh_mutex_);
    fresh_.insert(path.string());
    return path;
  }
  std::filesystem::path path = fresh_temp_name();
  std::lock_guard<std::mutex> lock(fresh_mutex_);
  fresh_.insert(path.string());
  return path;
}

bool FileStore::is_prepared(const std::filesystem::path& temp) const {
  return temp.parent_path() != temp_dir_;
}

void FileStore::discard_temp(const std::filesystem::path& temp) const {
  std::error_code ignored;
  std::filesystem::remove(temp, ignored);
  if (is_prepared(temp)) {
    if (pool_) pool_->release(temp, true);
    return;
  }
  std::lock_guard<std::mutex> lock(fresh_mutex_);
  fresh_.erase(temp.string());
}

void FileStore::sync_temp_entries(const std::vector<std::filesystem::path>& temps) const {
  bool needed = false;
  {
    std::lock_guard<std::mutex> lock(fresh_mutex_);
    for (const auto& temp : temps) needed = fresh_.erase(temp.string()) > 0 || needed;
  }
  if (needed) sync_path(temp_dir_, O_RDONLY | O_DIRECTORY);
}

std::string FileStore::relative_path_for(const std::filesystem::path& temp) {
  const std::string name = temp.filename().string();
  const std::string relative = name.substr(0, 2) + "/" + name;
  if (!is_valid_relative_path(relative)) {
    throw StorageError("not an Ossa temp file name: " + temp.string(), EINVAL);
  }
  return relative;
}

bool FileStore::is_valid_relative_path(const std::string& relative) {
  // "ab/" + 32 hex starting with "ab" + ".dcm"
  if (relative.size() != 2 + 1 + 32 + 4) return false;
  return is_hex(relative.substr(0, 2)) && relative[2] == '/' && is_hex(relative.substr(3, 32)) &&
         relative.compare(35, 4, ".dcm") == 0 && relative.compare(3, 2, relative, 0, 2) == 0;
}

std::filesystem::path FileStore::absolute(const std::string& relative) const {
  if (!is_valid_relative_path(relative))
    throw StorageError("refusing a stored path not made by Ossa: '" + relative + "'", EINVAL);
  return root_ / relative;
}

std::filesystem::path FileStore::copy_to_temp(const std::filesystem::path& source) const {
  const std::filesystem::path temp = new_temp_path();
  Fd in(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) {
    discard_temp(temp);
    fail("cannot open", source);
  }
  Fd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (out.get() < 0) fail("cannot create", temp);
  std::array<char, 1 << 16> buffer;
  try {
    while (true) {
      const ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("cannot read", source);
      }
      if (n == 0) break;
      for (ssize_t done = 0; done < n;) {
        const ssize_t w = ::write(out.get(), buffer.data() + done, static_cast<size_t>(n - done));
        if (w < 0) {
          if (errno == EINTR) continue;
          fail("cannot write", temp);
        }
        done += w;
      }
    }
    if (out.release_and_close() != 0) fail("cannot close", temp);
  } catch (...) {
    discard_temp(temp);
    throw;
  }
  return temp;
}

void FileStore::move_into_place(const std::filesystem::path& temp) const {
  const std::filesystem::path target = absolute(relative_path_for(temp));
  if (is_prepared(temp)) {  // already there; only its tmp/ name is left to drop
    if (pool_) pool_->release(temp, false);
    return;
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) fail("cannot move into place", target);
}

void FileStore::drop_released_temp_names() const {
  if (pool_) pool_->drop_released();
}

bool FileStore::remove(const std::string& relative) const noexcept {
  if (!is_valid_relative_path(relative)) return false;
  const std::filesystem::path target = root_ / relative;
  return ::unlink(target.c_str()) == 0 || errno == ENOENT;
}

std::pair<size_t, size_t> FileStore::recover_temp(
    const std::function<bool(const std::string& relative, const std::filesystem::path& file)>&
        is_indexed) const {
  size_t placed = 0, deleted = 0;
  std::vector<std::filesystem::path> unknown_final;  // final names of files to delete
  std::vector<std::filesystem::path> unknown_temp;   // and their tmp/ names, dropped after
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(temp_dir_, ec)) {
    const std::string name = entry.path().filename().string();
    const std::string relative = name.size() >= 2 ? name.substr(0, 2) + "/" + name : name;
    if (!is_valid_relative_path(relative)) {
      std::error_code rm;
      if (std::filesystem::remove(entry.path(), rm)) ++deleted;
      continue;
    }
    // A prepared file (temp_file_pool.h) also has its final name: the same inode.
    const std::filesystem::path target = root_ / relative;
    std::error_code missing;
    const bool has_final_name = std::filesystem::exists(target, missing);
    // What the index knows is the content under the final name (an on_received hook may have
    // replaced it there).
    if (is_indexed(relative, has_final_name ? target : entry.path())) {
      if (has_final_name) {
        ::unlink(entry.path().c_str());
      } else {
        move_into_place(entry.path());
      }
      ++placed;
      continue;
    }
    if (has_final_name) unknown_final.push_back(target);
    unknown_temp.push_back(entry.path());
  }
  // Final names first, durably, so that no file is ever left with a final name only.
  for (const auto& path : unknown_final) ::unlink(path.c_str());
  std::set<std::filesystem::path> folders;
  for (const auto& path : unknown_final) folders.insert(path.parent_path());
  for (const auto& folder : folders) sync_path(folder, O_RDONLY | O_DIRECTORY);
  for (const auto& path : unknown_temp) {
    std::error_code rm;
    if (std::filesystem::remove(path, rm)) ++deleted;
  }
  return {placed, deleted};
}

uint64_t FileStore::free_bytes() const {
  struct statvfs info {};
  if (::statvfs(root_.c_str(), &info) != 0) return UINT64_MAX;
  return static_cast<uint64_t>(info.f_bavail) * info.f_frsize;
}

}  // namespace ossa::storage
