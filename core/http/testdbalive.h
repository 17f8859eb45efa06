#pragma once
// GET /testdbalive, as OsiriX's web portal answers it (200, text/html, "Test DB Alive succeeded"),
// but only after a real read of the index; otherwise 503 with the reason, never a false success.
// The answer comes within a deadline even when the index hangs: the read runs on a thread of its
// own, at most one at a time (requests arriving meanwhile wait for the same read).

#include <chrono>
#include <memory>
#include <mutex>

#include "archive/archive.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace ossa::http {

class LivenessEndpoint {
 public:
  LivenessEndpoint(archive::Archive& archive, std::chrono::milliseconds busy_timeout,
                   std::chrono::milliseconds deadline)
      : archive_(archive), busy_timeout_(busy_timeout), deadline_(deadline) {}

  void answer(const httplib::Request& request, httplib::Response& response);

 private:
  struct Probe;
  index::Liveness check();

  archive::Archive& archive_;
  std::chrono::milliseconds busy_timeout_;
  std::chrono::milliseconds deadline_;
  std::mutex mutex_;
  std::shared_ptr<Probe> current_;  // the read in flight, or the last one
};

}  // namespace ossa::http
