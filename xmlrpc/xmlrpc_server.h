#pragma once
// The XML-RPC control server: cpp-httplib carries the HTTP, xmlrpc-c reads and writes the XML-RPC,
// MethodRegistry decides what may run.
//
//  - POST to any path (OsiriX ignores the path: "/", "/RPC2" both work); other HTTP methods: 405.
//  - With a token configured, every request needs "Authorization: Bearer <token>" or HTTP Basic
//    with the token as password (any user name); otherwise 401 and a log line naming the peer.
//  - Bodies over max_request_bytes: 413, before any parsing.

#include <cstdint>
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "xmlrpc/method_registry.h"
#include "xmlrpc/services.h"

namespace httplib {
class Server;
}

namespace ossa::xmlrpc {

struct ServerOptions {
  std::string bind = "127.0.0.1";
  uint16_t port = 8080;
  std::string token;  // empty: no authentication (only allowed on loopback; see config)
  size_t max_request_bytes = 1 << 20;
  int worker_threads = 8;
};

class XmlRpcServer {
 public:
  XmlRpcServer(ServerOptions options, Services services);
  ~XmlRpcServer();  // stops
  XmlRpcServer(const XmlRpcServer&) = delete;
  XmlRpcServer& operator=(const XmlRpcServer&) = delete;

  // Binds the port; throws std::runtime_error naming the address and the reason (port in use).
  void open();
  // Serves on a thread of its own until stop().
  void start();
  void stop();

  const MethodRegistry& registry() const { return registry_; }

 private:
  bool authorized(const std::string& header) const;

  ServerOptions options_;
  Services services_;
  MethodRegistry registry_;
  std::unique_ptr<httplib::Server> http_;
  // A large answer was sent since the last call: its memory is back in a worker's arena.
  std::atomic<bool> trim_before_next_{false};
  std::thread thread_;
};

// True for 127.0.0.0/8, ::1 and "localhost": addresses only this machine can reach.
bool is_loopback(const std::string& address);

}  // namespace ossa::xmlrpc
