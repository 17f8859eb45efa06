// `ossa send`, `ossa retrieve`, `ossa jobs` and `ossa delete`: queue durable jobs for the running
// server (they share the index through SQLite), watch them, and delete from the archive.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "app/commands.h"
#include "app/runtime.h"
#include "util/log.h"

namespace ossa::app {
namespace {

bool take_flag(std::vector<std::string>& args, const std::string& flag) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag) {
      args.erase(args.begin() + static_cast<long>(i));
      return true;
    }
  }
  return false;
}

bool take_value(std::vector<std::string>& args, const std::string& flag, std::string& value) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == flag) {
      value = args[i + 1];
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
      return true;
    }
  }
  return false;
}

bool valid_level(const std::string& level) {
  return level == "PATIENT" || level == "STUDY" || level == "SERIES" || level == "IMAGE";
}

std::string join(const std::vector<std::string>& values, size_t from) {
  std::string out;
  for (size_t i = from; i < values.size(); ++i) out += (out.empty() ? "" : "\\") + values[i];
  return out;
}

void print_job(const index::Job& j) {
  std::printf("job %lld: %s %s %s %s%s: %s, %lld/%lld done, %lld failed%s%s\n",
              static_cast<long long>(j.id), j.kind.c_str(), j.level.c_str(), j.uids.c_str(),
              j.kind == "send" ? "to " : "from ", j.node.c_str(), j.state.c_str(),
              static_cast<long long>(j.completed), static_cast<long long>(j.total),
              static_cast<long long>(j.failed), j.error.empty() ? "" : "; ", j.error.c_str());
}

// Waits for a job to end, showing progress; exit code 0 when it is done without failures.
int wait_for(archive::Archive& archive, int64_t id) {
  std::string last;
  while (true) {
    const auto job = archive.job(id);
    if (!job) return 1;
    const std::string now =
        job->state + std::to_string(job->completed) + "/" + std::to_string(job->failed);
    if (now != last) {
      print_job(*job);
      std::fflush(stdout);
      last = now;
    }
    if (job->state == "done") return job->failed == 0 ? 0 : 1;
    if (job->state == "failed" || job->state == "cancelled") return 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

// Opens the archive without keeping temp files ready: these commands do not receive instances.
bool open_archive(const std::string& config_path, config::Config& cfg,
                  std::unique_ptr<archive::Archive>& out) {
  if (!load_config_or_report(config_path, cfg)) return false;
  if (!prepare_process(cfg)) return false;
  archive::ArchiveOptions options = archive_options(cfg);
  options.prepare_temp_files = false;
  out = std::make_unique<archive::Archive>(options);
  return true;
}

int queue(const std::vector<std::string>& arguments, const std::string& kind) {
  std::vector<std::string> args = arguments;
  std::string config_path, level = "STUDY";
  if (!take_config_option(args, config_path)) return 2;
  take_value(args, "--level", level);
  const bool wait = take_flag(args, "--wait");
  const bool use_get = take_flag(args, "--get");
  if (args.size() < 2 || !valid_level(level)) {
    std::fprintf(stderr,
                 "usage: ossa %s [--config FILE] NODE [--level PATIENT|STUDY|SERIES|IMAGE]%s"
                 " [--wait] KEY...\n",
                 kind.c_str(), kind == "retrieve" ? " [--get]" : "");
    return 2;
  }
  config::Config cfg;
  std::unique_ptr<archive::Archive> archive;
  if (!open_archive(config_path, cfg, archive)) return 2;
  const auto node = archive->node_by_name(args[0]);
  if (!node) {
    std::fprintf(stderr, "no declared node named '%s' (see nodes: in %s)\n", args[0].c_str(),
                 cfg.source.c_str());
    return 2;
  }
  if (kind == "send" ? !node->send : !node->retrieve) {
    std::fprintf(stderr, "node '%s' does not allow %s (set %s: true for it)\n", args[0].c_str(),
                 kind.c_str(), kind.c_str());
    return 2;
  }
  index::Job job;
  job.kind = kind;
  job.node = node->name;
  job.level = level;
  job.uids = join(args, 1);
  job.method = kind == "retrieve" ? (use_get ? "get" : "move") : "";
  const int64_t id = archive->queue_job(job);
  std::printf("queued job %lld (the running server executes it)\n", static_cast<long long>(id));
  std::fflush(stdout);
  return wait ? wait_for(*archive, id) : 0;
}

}  // namespace

int run_send(const std::vector<std::string>& args) {
  return queue(args, "send");
}
int run_retrieve(const std::vector<std::string>& args) {
  return queue(args, "retrieve");
}

int run_jobs(const std::vector<std::string>& arguments) {
  std::vector<std::string> args = arguments;
  std::string config_path, cancel;
  if (!take_config_option(args, config_path)) return 2;
  const bool have_cancel = take_value(args, "--cancel", cancel);
  const bool wait = take_flag(args, "--wait");
  config::Config cfg;
  std::unique_ptr<archive::Archive> archive;
  if (!open_archive(config_path, cfg, archive)) return 2;
  if (have_cancel) {
    const bool ok = archive->cancel_job(std::atoll(cancel.c_str()));
    std::printf(ok ? "job %s cancelled\n" : "job %s is not pending or running\n", cancel.c_str());
    return ok ? 0 : 1;
  }
  if (!args.empty()) {
    const int64_t id = std::atoll(args[0].c_str());
    if (wait) return wait_for(*archive, id);
    const auto job = archive->job(id);
    if (!job) {
      std::fprintf(stderr, "no job %s\n", args[0].c_str());
      return 1;
    }
    print_job(*job);
    return 0;
  }
  for (const auto& job : archive->jobs()) print_job(job);
  return 0;
}

int run_delete(const std::vector<std::string>& arguments) {
  std::vector<std::string> args = arguments;
  std::string config_path;
  if (!take_config_option(args, config_path)) return 2;
  if (args.size() < 2 || !valid_level(args[0])) {
    std::fputs("usage: ossa delete [--config FILE] PATIENT|STUDY|SERIES|IMAGE KEY...\n", stderr);
    return 2;
  }
  config::Config cfg;
  std::unique_ptr<archive::Archive> archive;
  if (!open_archive(config_path, cfg, archive)) return 2;
  const index::Level level = args[0] == "PATIENT"  ? index::Level::kPatient
                             : args[0] == "STUDY"  ? index::Level::kStudy
                             : args[0] == "SERIES" ? index::Level::kSeries
                                                   : index::Level::kInstance;
  int missing = 0;
  for (size_t i = 1; i < args.size(); ++i) {
    const size_t n = archive->delete_entity(level, args[i]);
    std::printf("%s %s: %zu instance(s) deleted\n", args[0].c_str(), args[i].c_str(), n);
    if (n == 0) ++missing;
  }
  return missing ? 1 : 0;
}

}  // namespace ossa::app
