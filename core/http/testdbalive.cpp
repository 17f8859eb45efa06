#include "http/testdbalive.h"

#include <httplib.h>

#include <condition_variable>
#include <thread>

#include "util/log.h"

namespace ossa::http {

struct LivenessEndpoint::Probe {
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;
  index::Liveness result;
};

index::Liveness LivenessEndpoint::check() {
  std::shared_ptr<Probe> probe;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    bool running = false;
    if (current_) {
      std::lock_guard<std::mutex> probe_lock(current_->mutex);
      running = !current_->done;
    }
    if (!running) {
      current_ = std::make_shared<Probe>();
      // Detached: it owns its probe state and a self-contained check, so it may outlive this
      // request and the server; it ends when SQLite gives up (seconds).
      std::thread([probe = current_, read = archive_.index_alive_check(busy_timeout_)] {
        index::Liveness result = read();
        std::lock_guard<std::mutex> probe_lock(probe->mutex);
        probe->result = std::move(result);
        probe->done = true;
        probe->finished.notify_all();
      }).detach();
    }
    probe = current_;
  }
  std::unique_lock<std::mutex> lock(probe->mutex);
  if (probe->finished.wait_for(lock, deadline_, [&] { return probe->done; })) return probe->result;
  index::Liveness late;
  late.reason = "the index did not answer a read within " + std::to_string(deadline_.count()) +
                " ms (locked or hung)";
  return late;
}

void LivenessEndpoint::answer(const httplib::Request& request, httplib::Response& response) {
  const index::Liveness liveness = check();
  if (liveness.alive) {
    // Exactly OsiriX's answer: watchdogs and monitoring scripts compare the body.
    response.status = 200;
    response.set_content("Test DB Alive succeeded", "text/html");
    return;
  }
  log::warning("/testdbalive from ", request.remote_addr,
               ": the index does not answer: ", liveness.reason);
  response.status = 503;
  response.set_content("Test DB Alive failed: " + liveness.reason + "\n", "text/plain");
}

}  // namespace ossa::http
