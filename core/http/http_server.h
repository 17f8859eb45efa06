#pragma once
// The HTTP server (cpp-httplib): GET /testdbalive, and the plugins' routes under /plugins/.
// Later WADO, DICOMweb and the viewer. It reaches the archive only through the facade.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "archive/archive.h"
#include "http/routes.h"
#include "http/testdbalive.h"

namespace httplib {
class Server;
}

namespace ossa::http {

struct HttpOptions {
  std::string bind = "127.0.0.1";
  uint16_t port = 3333;
  uint64_t max_request_bytes = 16ull << 20;
  // How long /testdbalive waits for a lock held on the index before answering 503.
  std::chrono::milliseconds index_busy_timeout{2000};
  // /testdbalive answers 503 when the read has not finished by then (SQLite may take ~10 s to
  // give up on some locks).
  std::chrono::milliseconds liveness_deadline{3000};
};

class HttpServer {
 public:
  HttpServer(HttpOptions options, archive::Archive& archive);
  ~HttpServer();  // stops the server (waits for requests being answered)
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Who answers /plugins/... (nullptr: nobody, 404). Set before open(); not owned.
  void set_route_provider(RouteProvider* provider) { routes_ = provider; }

  // Binds the port; throws std::runtime_error saying which address and why (e.g. in use).
  void open();
  // Serves on a thread of its own until stop().
  void start();
  void stop();

 private:
  void install_handlers();

  HttpOptions options_;
  archive::Archive& archive_;
  RouteProvider* routes_ = nullptr;
  std::unique_ptr<LivenessEndpoint> liveness_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> finished_{false};  // the listening loop returned
};

}  // namespace ossa::http
