// `ossa watchdog --config FILE`: runs `ossa serve --config FILE` as a child and keeps it alive.
// Every watchdog.interval_seconds it probes GET /testdbalive and an XML-RPC call (ossa.status);
// after watchdog.failures_before_restart consecutive failures it stops the server (SIGTERM, then
// SIGKILL after watchdog.grace_seconds) and starts it again. A server that exits by itself is
// started again too, after 1, 2, 4 ... seconds (at most watchdog.max_backoff_seconds) while it
// keeps failing before its first good probe, so a crash loop neither spins nor gives up.
// SIGTERM or SIGINT stop the server gracefully, then the watchdog exits 0. Never interactive.
//
// Signals are blocked and taken with sigtimedwait in the one loop, so the watchdog has no signal
// handlers and no threads: SIGCHLD wakes it when the server exits.

#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/runtime.h"
#include "app/watchdog_probes.h"
#include "util/log.h"

namespace ossa::app {
namespace {

using Clock = std::chrono::steady_clock;

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = sigdescr_np(sig);
    return "was killed by signal " + std::to_string(sig) +
           (name ? std::string(" (") + name + ")" : "");
  }
  return "ended (status " + std::to_string(status) + ")";
}

class Supervisor {
 public:
  Supervisor(const config::Config& cfg, std::string executable)
      : cfg_(cfg), w_(cfg.watchdog), executable_(std::move(executable)) {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGTERM);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGCHLD);
    sigprocmask(SIG_BLOCK, &signals_, &original_mask_);
    http_.host = probe_host_for(cfg.http.bind);
    http_.port = cfg.http.port;
    if (cfg.xmlrpc.enabled) {
      xmlrpc_.host = probe_host_for(cfg.xmlrpc.bind);
      xmlrpc_.port = cfg.xmlrpc.port;
      xmlrpc_.token = cfg.xmlrpc.token;
    }
  }

  int run() {
    log::info("watchdog: supervising ", executable_, " serve --config ", cfg_.source.string(),
              "; probes every ", w_.interval_seconds, " s (timeout ", w_.timeout_seconds,
              " s): http://", http_.host, ":", http_.port, "/testdbalive",
              xmlrpc_.port ? " and XML-RPC ossa.status on " + xmlrpc_.host + ":" +
                                 std::to_string(xmlrpc_.port)
                           : std::string(" (XML-RPC disabled: not probed)"),
              "; restart after ", w_.failures_before_restart, " consecutive failures");
    int backoff = 1;
    while (!stopping_) {
      if (!start_child()) return 1;
      supervise_child();
      if (stopping_) break;
      if (healthy_seen_) {
        backoff = 1;  // it ran well before it failed: restart at once
        continue;
      }
      log::warning("watchdog: the server failed before answering a probe; starting it again in ",
                   backoff, " s");
      pause(std::chrono::seconds(backoff));
      backoff = std::min(backoff * 2, w_.max_backoff_seconds);
    }
    if (child_ > 0) stop_child("the watchdog is stopping");
    log::info("watchdog: stopped");
    return 0;
  }

 private:
  bool start_child() {
    const std::string config = cfg_.source.string();
    const pid_t pid = fork();
    if (pid < 0) {
      log::error("watchdog: cannot start the server: fork failed: ", std::strerror(errno));
      return false;
    }
    if (pid == 0) {
      // The server gets a clean signal state, and SIGTERM when the watchdog dies (so a killed
      // watchdog never leaves a server no one supervises).
      sigprocmask(SIG_SETMASK, &original_mask_, nullptr);
      ::signal(SIGPIPE, SIG_DFL);
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() == 1) _exit(127);  // the watchdog died before prctl took effect
      execl(executable_.c_str(), executable_.c_str(), "serve", "--config", config.c_str(),
            static_cast<char*>(nullptr));
      std::fprintf(stderr, "watchdog: cannot run %s: %s\n", executable_.c_str(),
                   std::strerror(errno));
      _exit(127);
    }
    child_ = pid;
    started_ = Clock::now();
    healthy_seen_ = false;
    failures_ = 0;
    log::info("watchdog: started ossa serve (pid ", pid, ")");
    return true;
  }

  // Probes the running child until it ends (by itself, or stopped after failed probes) or the
  // watchdog is asked to stop.
  void supervise_child() {
    auto next_probe = Clock::now() + std::chrono::seconds(std::min(w_.interval_seconds, 2));
    while (!stopping_ && child_ > 0) {
      pause(next_probe - Clock::now());
      if (stopping_ || child_ <= 0) break;
      next_probe = Clock::now() + std::chrono::seconds(w_.interval_seconds);
      const std::string failure = probe();
      if (child_ <= 0) break;
      if (failure.empty()) {
        if (!healthy_seen_) log::info("watchdog: server (pid ", child_, ") answers its probes");
        if (failures_ > 0)
          log::info("watchdog: probes succeed again after ", failures_, " failure(s)");
        healthy_seen_ = true;
        failures_ = 0;
        continue;
      }
      const bool starting =
          !healthy_seen_ && Clock::now() - started_ < std::chrono::seconds(w_.startup_seconds);
      if (starting) {
        log::info("watchdog: server (pid ", child_, ") not answering yet: ", failure);
        continue;
      }
      ++failures_;
      log::warning("watchdog: probe failed (", failures_, " of ", w_.failures_before_restart,
                   "): ", failure);
      if (failures_ >= w_.failures_before_restart) {
        stop_child(std::to_string(failures_) + " consecutive probes failed");
        return;
      }
    }
  }

  // Both probes; "" when both succeed, else what failed.
  std::string probe() {
    const std::chrono::seconds timeout(w_.timeout_seconds);
    const ProbeResult http = probe_testdbalive(http_, timeout);
    if (!http.ok) return http.detail;
    if (xmlrpc_.port == 0) return "";
    const ProbeResult rpc = probe_xmlrpc(xmlrpc_, timeout);
    return rpc.ok ? "" : rpc.detail;
  }

  // SIGTERM (and SIGCONT, so a stopped process can act on it), SIGKILL after the grace period.
  void stop_child(const std::string& why) {
    const pid_t pid = child_;
    log::warning("watchdog: stopping the server (pid ", pid, "): ", why, "; SIGTERM");
    ::kill(pid, SIGTERM);
    ::kill(pid, SIGCONT);
    const auto deadline = Clock::now() + std::chrono::seconds(w_.grace_seconds);
    for (;;) {
      reap();
      const auto left = deadline - Clock::now();
      if (child_ <= 0 || left <= Clock::duration::zero()) break;
      take_signal(left);  // a SIGTERM meanwhile only marks the watchdog as stopping
    }
    if (child_ > 0) {
      log::warning("watchdog: server (pid ", pid, ") still running after ", w_.grace_seconds,
                   " s; SIGKILL");
      ::kill(pid, SIGKILL);
      int status = 0;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      log::warning("watchdog: server (pid ", pid, ") ", describe_exit(status));
      child_ = -1;
    }
  }

  // Waits up to `duration`; returns early when the watchdog is told to stop, or when the server
  // that was running at the call ends.
  void pause(Clock::duration duration) {
    const auto deadline = Clock::now() + duration;
    const bool had_child = child_ > 0;
    for (;;) {
      reap();
      if (stopping_ || (had_child && child_ <= 0)) return;
      const auto left = deadline - Clock::now();
      if (left <= Clock::duration::zero()) return;
      take_signal(left);
    }
  }

  // Waits up to `duration` for SIGTERM, SIGINT or SIGCHLD.
  void take_signal(Clock::duration duration) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count();
    const timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    const int sig = sigtimedwait(&signals_, nullptr, &ts);
    if ((sig == SIGTERM || sig == SIGINT) && !stopping_) {
      log::info("watchdog: received ", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                "; stopping the server, then exiting");
      stopping_ = true;
    }
  }

  void reap() {
    if (child_ <= 0) return;
    int status = 0;
    if (waitpid(child_, &status, WNOHANG) != child_) return;
    const long ran = static_cast<long>(
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count());
    const std::string line = "watchdog: server (pid " + std::to_string(child_) + ") " +
                             describe_exit(status) + " after " + std::to_string(ran) + " s";
    if (stopping_)
      log::info(line);
    else
      log::warning(line);
    child_ = -1;
  }

  const config::Config& cfg_;
  const config::WatchdogConfig& w_;
  std::string executable_;
  sigset_t signals_{};
  sigset_t original_mask_{};
  ProbeTarget http_;
  ProbeTarget xmlrpc_;
  pid_t child_ = -1;
  Clock::time_point started_;
  bool healthy_seen_ = false;
  bool stopping_ = false;
  int failures_ = 0;
};

std::string own_executable() {
  std::error_code error;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::string() : path.string();
}

}  // namespace

int run_watchdog(const std::vector<std::string>& arguments) {
  std::vector<std::string> args = arguments;
  std::string config_path;
  if (!take_config_option(args, config_path)) return 2;
  if (!args.empty()) {
    std::fprintf(stderr, "usage: ossa watchdog [--config FILE]\n");
    return 2;
  }
  config::Config cfg;
  if (!load_config_or_report(config_path, cfg)) return 2;
  prepare_process(cfg);  // log level; the server does its own checks
  const std::string executable = own_executable();
  if (executable.empty()) {
    log::error("watchdog: cannot find its own executable (/proc/self/exe)");
    return 1;
  }
  Supervisor supervisor(cfg, executable);
  return supervisor.run();
}

}  // namespace ossa::app
