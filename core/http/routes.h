#pragma once
// Requests the HTTP server hands to someone else (the plugin host's routes under /plugins/), in
// plain types: whoever answers them needs neither the HTTP library nor the server.

#include <string>
#include <utility>
#include <vector>

namespace ossa::http {

struct RouteRequest {
  std::string method;        // "GET", "POST", ...
  std::string path;          // percent-decoded, without the query: "/plugins/demo/hello"
  std::string query;         // as sent, after '?' ("" when none)
  std::string headers_text;  // "Name: value\r\n" per header, as received
  std::string body;
  std::string peer_address;  // "127.0.0.1"
};

struct RouteResponse {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class RouteProvider {
 public:
  virtual ~RouteProvider() = default;
  // Answers `request` when one of its routes matches; false when none does (the server answers
  // 404). Must not throw; a route that fails becomes a 500 in `response`. Called on the HTTP
  // server's worker threads, several at once.
  virtual bool handle(const RouteRequest& request, RouteResponse& response) = 0;
};

}  // namespace ossa::http
