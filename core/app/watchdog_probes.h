#pragma once
// What `ossa watchdog` asks the server it supervises: GET /testdbalive on the HTTP port, and an
// XML-RPC call (ossa.status) on the control port. Each probe has a deadline: a hung server blocks
// rather than fails, so a probe that takes too long is a failure.

#include <chrono>
#include <cstdint>
#include <string>

namespace ossa::app {

struct ProbeTarget {
  std::string host;  // where to connect: the bind address, or loopback for a wildcard bind
  uint16_t port = 0;
  std::string token;  // XML-RPC only: sent as a Bearer token when not empty
};

struct ProbeResult {
  bool ok = false;
  std::string detail;  // why it failed ("timed out", "HTTP 503: ...")
};

// The address to reach a server bound to `bind`: loopback for 0.0.0.0 and ::.
std::string probe_host_for(const std::string& bind);

// 200 with exactly "Test DB Alive succeeded".
ProbeResult probe_testdbalive(const ProbeTarget& target, std::chrono::seconds timeout);

// A methodResponse without a fault, for ossa.status.
ProbeResult probe_xmlrpc(const ProbeTarget& target, std::chrono::seconds timeout);

}  // namespace ossa::app
