#include "routed_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ossa::routing {
namespace {

namespace fs = std::filesystem;

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// Reads complete lines into `into`; returns the length of the complete part (a last line without
// its newline was cut short by a crash).
bool load(const std::string& path, std::unordered_set<std::string>& into, off_t& complete,
          std::string& error) {
  complete = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!fs::exists(path)) return true;
    error = "cannot read " + path;
    return false;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  size_t start = 0;
  while (true) {
    const size_t nl = text.find('\n', start);
    if (nl == std::string::npos) break;
    if (nl > start) into.insert(text.substr(start, nl - start));
    start = nl + 1;
  }
  complete = static_cast<off_t>(start);
  return true;
}

bool sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

RoutedLog::~RoutedLog() {
  close();
}

void RoutedLog::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RoutedLog::open(const std::string& dir, size_t max_records, bool fsync, std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  max_records_ = max_records ? max_records : 1;
  fsync_ = fsync;
  dir_ = dir;
  current_.clear();
  previous_.clear();
  if (dir.empty()) return true;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    error = "cannot create the state dir " + dir + ": " + ec.message();
    return false;
  }
  off_t complete = 0;
  if (!load(dir + "/routed.1.log", previous_, complete, error)) return false;
  if (!load(dir + "/routed.log", current_, complete, error)) return false;
  if (!open_current(error)) return false;
  // Drop a line cut short by a crash so that the next append starts on a line of its own.
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && st.st_size > complete) {
    if (::ftruncate(fd_, complete) != 0) {
      error = errno_text("cannot truncate", dir + "/routed.log");
      return false;
    }
  }
  return true;
}

bool RoutedLog::open_current(std::string& error) {
  const std::string path = dir_ + "/routed.log";
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    error = errno_text("cannot open", path);
    return false;
  }
  return true;
}

bool RoutedLog::rotate(std::string& error) {
  ::close(fd_);
  fd_ = -1;
  const std::string current = dir_ + "/routed.log", old = dir_ + "/routed.1.log";
  if (::rename(current.c_str(), old.c_str()) != 0) {
    error = errno_text("cannot rename", current);
    open_current(error);
    return false;
  }
  previous_ = std::move(current_);
  current_.clear();
  if (!open_current(error)) return false;
  if (fsync_) sync_dir(dir_);
  return true;
}

bool RoutedLog::contains(const std::string& record) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_.count(record) || previous_.count(record);
}

size_t RoutedLog::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_.size() + previous_.size();
}

bool RoutedLog::add(const std::vector<std::string>& records, std::string& error) {
  if (records.empty()) return true;
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ < 0) {
    if (dir_.empty()) {
      // Memory only: keep the same bound as on disk.
      for (const std::string& r : records) {
        if (current_.size() >= max_records_) {
          previous_ = std::move(current_);
          current_.clear();
        }
        current_.insert(r);
      }
      return true;
    }
    if (!open_current(error)) {
      for (const std::string& r : records) current_.insert(r);
      return false;
    }
  }
  if (current_.size() + records.size() > max_records_ && !current_.empty()) {
    if (!rotate(error)) {
      for (const std::string& r : records) current_.insert(r);
      return false;
    }
  }
  std::string text;
  for (const std::string& r : records) {
    text += r;
    text += '\n';
    current_.insert(r);
  }
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = errno_text("cannot append to", dir_ + "/routed.log");
      return false;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (fsync_ && ::fdatasync(fd_) != 0) {
    error = errno_text("cannot sync", dir_ + "/routed.log");
    return false;
  }
  return true;
}

}  // namespace ossa::routing
