// `ossa import PATH...`: files and folders (recursively) through the archive's ingest path, the
// same one C-STORE uses. Safe while the server runs: both share the index through SQLite's locking.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "app/commands.h"
#include "app/runtime.h"
#include "util/log.h"

namespace ossa::app {
namespace {

// Several files in flight at once let the group commit batch them, as it does for associations.
constexpr unsigned kImportThreads = 4;

struct Rejection {
  std::string path;
  std::string reason;
};

std::vector<std::filesystem::path> collect_files(const std::vector<std::string>& roots,
                                                 std::vector<Rejection>& problems) {
  std::vector<std::filesystem::path> files;
  for (const auto& root : roots) {
    std::error_code ec;
    const auto status = std::filesystem::status(root, ec);
    if (ec || !std::filesystem::exists(status)) {
      problems.push_back({root, "no such file or folder"});
      continue;
    }
    if (std::filesystem::is_regular_file(status)) {
      files.emplace_back(root);
      continue;
    }
    auto it = std::filesystem::recursive_directory_iterator(
        root, std::filesystem::directory_options::skip_permission_denied, ec);
    if (ec) {
      problems.push_back({root, ec.message()});
      continue;
    }
    for (const auto end = std::filesystem::recursive_directory_iterator(); it != end;
         it.increment(ec)) {
      if (ec) {
        problems.push_back({it->path().string(), ec.message()});
        break;
      }
      if (it->is_regular_file(ec)) files.push_back(it->path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int run_import(const std::vector<std::string>& arguments) {
  std::vector<std::string> args = arguments;
  std::string config_path;
  if (!take_config_option(args, config_path)) return 2;
  if (args.empty()) {
    std::fputs("usage: ossa import [--config FILE] PATH...\n", stderr);
    return 2;
  }
  config::Config cfg;
  if (!load_config_or_report(config_path, cfg)) return 2;
  if (!prepare_process(cfg)) return 1;
  archive::Archive archive(archive_options(cfg));

  std::vector<Rejection> rejected;
  const std::vector<std::filesystem::path> files = collect_files(args, rejected);
  std::atomic<size_t> next{0}, done{0}, imported{0}, duplicates{0};
  std::mutex rejected_mutex;
  auto worker = [&] {
    archive::IngestStream stream;  // one file after another: the group commit waits for it
    for (size_t i = next++; i < files.size(); i = next++) {
      const archive::IngestResult result = archive.ingest_copy(files[i], &stream);
      if (!result.ok()) {
        std::lock_guard<std::mutex> lock(rejected_mutex);
        rejected.push_back({files[i].string(), result.message});
      } else if (result.kind == archive::IngestResult::Kind::kStored) {
        ++imported;
      } else {
        ++duplicates;
      }
      ++done;
    }
  };
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < std::min<size_t>(kImportThreads, std::max<size_t>(files.size(), 1)); ++t)
    workers.emplace_back(worker);

  const bool show_progress = ::isatty(STDERR_FILENO);
  while (show_progress && done.load() < files.size()) {
    std::fprintf(stderr, "\rimporting %zu/%zu: imported %zu, duplicates %zu, rejected %zu ",
                 done.load(), files.size(), imported.load(), duplicates.load(), rejected.size());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (auto& t : workers) t.join();
  if (show_progress) std::fputs("\r\033[K", stderr);

  std::sort(rejected.begin(), rejected.end(),
            [](const Rejection& a, const Rejection& b) { return a.path < b.path; });
  for (const auto& r : rejected)
    std::printf("rejected: %s: %s\n", r.path.c_str(), r.reason.c_str());
  std::printf("imported %zu, duplicates %zu, rejected %zu\n", imported.load(), duplicates.load(),
              rejected.size());
  return rejected.empty() ? 0 : 1;
}

}  // namespace ossa::app
