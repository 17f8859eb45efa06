// `ossa serve`: runs the server until SIGTERM or SIGINT, then stops gracefully.

#include <malloc.h>
#include <pthread.h>
#include <unistd.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <cstdio>
#include <thread>

#include "app/commands.h"
#include "app/runtime.h"
#include "dicom/dicom_server.h"
#include "http/http_server.h"
#include "jobs/job_runner.h"
#include "plugins/plugin_host.h"
#include "ossa/version.h"
#include "util/log.h"
#include "xmlrpc/xmlrpc_server.h"

namespace ossa::app {
namespace {

// glibc gives threads up to 8 malloc arenas per core, and each keeps its own high-water mark:
// a large XML-RPC answer (DBWindowFind of thousands of studies, ~40 MB while it is built) built on
// one worker thread after another left each arena's peak in the RSS (118 MB after 30 such calls
// at 10^6 instances; 83 MB with a single arena). One arena per core keeps the parallelism that
// matters (no more threads run at once than there are cores; small allocations go through each
// thread's cache anyway) and the RSS bounded. MALLOC_ARENA_MAX in the environment still wins.
void limit_malloc_arenas() {
  if (std::getenv("MALLOC_ARENA_MAX") != nullptr) return;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  ::mallopt(M_ARENA_MAX, static_cast<int>(cores));
}

// Signals are taken synchronously by one thread (sigwait), so no work happens in a signal handler
// and every other thread inherits the blocked mask.
class SignalWatcher {
 public:
  SignalWatcher() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    ::signal(SIGPIPE, SIG_IGN);  // a peer that vanished must not kill the server
    std::thread([this] {
      int received = 0;
      if (sigwait(&set_, &received) == 0) {
        log::info("received ", received == SIGTERM ? "SIGTERM" : "SIGINT", "; shutting down");
        stop_ = true;
      }
    }).detach();
  }
  const std::atomic<bool>& stop() const { return stop_; }

 private:
  sigset_t set_;
  std::atomic<bool> stop_{false};
};

}  // namespace

int run_serve(const std::vector<std::string>& arguments) {
  std::vector<std::string> args = arguments;
  std::string config_path;
  if (!take_config_option(args, config_path)) return 2;
  if (!args.empty()) {
    std::fprintf(stderr, "usage: ossa serve [--config FILE]\n");
    return 2;
  }
  config::Config cfg;
  if (!load_config_or_report(config_path, cfg)) return 2;
  static SignalWatcher signals;  // before any thread starts
  limit_malloc_arenas();         // before any thread allocates
  if (!prepare_process(cfg)) return 1;

  log::info("Ossa ", OSSA_VERSION_STRING, " starting with ", cfg.source.string());
  archive::Archive archive(archive_options(cfg));
  archive.index().refresh_statistics();
  plugins::HostOptions host_options;
  host_options.received_budget_ms = cfg.plugin_host.received_budget_ms;
  host_options.reject_over_budget = cfg.plugin_host.reject_over_budget;
  host_options.stable_after_seconds = cfg.plugin_host.stable_after_seconds;
  plugins::PluginHost plugin_host(archive, host_options);
  std::vector<plugins::PluginToLoad> to_load;
  for (const auto& p : cfg.plugins) to_load.push_back({p.path, p.config_json});
  if (!to_load.empty()) {
    log::info("plugins: ", plugin_host.load(to_load), " of ", to_load.size(), " loaded");
  }
  plugin_host.start();
  // No counting here: start-up must not read the whole index (counts() is for status requests).
  log::info("archive: storage ", cfg.storage.path.string(), ", index ", cfg.index.path.string());

  dicom::ServerOptions options;
  options.aet = cfg.server.aet;
  options.bind = cfg.server.bind;
  options.port = cfg.server.port;
  options.max_associations = cfg.server.max_associations;
  options.allowed_callers = cfg.server.allowed_callers;
  options.acse_timeout_seconds = cfg.server.acse_timeout_seconds;
  options.dimse_timeout_seconds = cfg.server.dimse_timeout_seconds;
  options.shutdown_timeout_seconds = cfg.server.shutdown_timeout_seconds;
  options.max_pdu = cfg.server.max_pdu;
  dicom::DicomServer server(options, archive);
  try {
    server.open();
  } catch (const std::exception& e) {
    log::error(e.what());
    return 1;
  }
  http::HttpOptions http_options;
  http_options.bind = cfg.http.bind;
  http_options.port = cfg.http.port;
  http_options.max_request_bytes = cfg.http.max_request_mb << 20;
  http::HttpServer http_server(http_options, archive);
  http_server.set_route_provider(&plugin_host.http_routes());
  try {
    http_server.open();
  } catch (const std::exception& e) {
    log::error(e.what());
    return 1;
  }
  http_server.start();
  jobs::JobRunnerOptions job_options;
  job_options.scu.own_aet = cfg.server.aet;
  job_options.scu.max_pdu = cfg.server.max_pdu;
  job_options.scu.acse_timeout = cfg.server.acse_timeout_seconds;
  job_options.scu.dimse_timeout = cfg.server.dimse_timeout_seconds;
  job_options.send_share_while_ingesting = cfg.jobs.send_share_while_ingesting;
  jobs::JobRunner job_runner(archive, job_options);
  job_runner.start();
  // The XML-RPC control interface. Opened before "ready" so that a port in use stops start-up.
  std::unique_ptr<xmlrpc::XmlRpcServer> control;
  if (cfg.xmlrpc.enabled) {
    xmlrpc::Services services;
    services.archive = &archive;
    services.plugins = &plugin_host;
    services.scu = job_options.scu;
    services.dicom_port = cfg.server.port;
    // KillOsiriX takes the same path as SIGTERM: the signal thread sees it, the server drains.
    services.request_shutdown = [] { ::kill(::getpid(), SIGTERM); };
    services.active_associations = [&server] { return server.active_associations(); };
    services.max_download_bytes = cfg.xmlrpc.max_download_mb << 20;
    xmlrpc::ServerOptions control_options;
    control_options.bind = cfg.xmlrpc.bind;
    control_options.port = cfg.xmlrpc.port;
    control_options.token = cfg.xmlrpc.token;
    control_options.max_request_bytes = cfg.xmlrpc.max_request_bytes;
    control = std::make_unique<xmlrpc::XmlRpcServer>(control_options, services);
    try {
      control->open();
    } catch (const std::exception& e) {
      log::error(e.what());
      return 1;
    }
    control->start();
  }
  log::info("ready");
  const int unfinished = server.run(signals.stop());
  if (control) control->stop();
  if (const archive::IngestStats ingest = archive.ingest_stats(); ingest.batches > 0) {
    log::info("ingest: ", ingest.instances, " instance(s) made durable in ", ingest.batches,
              " group commit(s)");
  }
  if (unfinished > 0) {
    // Their instances were never acknowledged, so nothing promised is lost; start-up recovery
    // removes any files they left half-written.
    log::warning(unfinished,
                 " association(s) did not finish within server.shutdown_timeout; exiting anyway");
    log::info("stopped");
    std::fflush(nullptr);
    std::_Exit(0);
  }
  log::info("stopped");
  return 0;
}

}  // namespace ossa::app
