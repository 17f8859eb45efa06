#pragma once
// A fresh folder under the system temp dir for one test, removed with everything in it at the end.

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

namespace ossa::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "ossa-test") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace ossa::testing
