#pragma once
// The plugins' HTTP routes (register_http_route in ossa/plugin.h): the registry, the dispatch the
// HTTP server calls for /plugins/..., and the C API functions that register routes and build
// responses. A route that fails, throws or answers garbage becomes a 500 and a log line naming
// its plugin; it never reaches the server.

#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "http/routes.h"
#include "ossa/plugin.h"

// What `ossa_http_response*` points to: the answer a route is building.
struct ossa_http_response {
  bool set = false;  // http_response_set was called
  int status = 0;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

namespace ossa::plugins {

class HttpRoutes : public http::RouteProvider {
 public:
  struct Route {
    const void* owner = nullptr;  // the plugin (to forget its routes when its init fails)
    std::string plugin;           // its name, for the log
    std::string method;
    std::string prefix;  // normalised: no trailing '/'
    ossa_http_fn function = nullptr;
    void* user = nullptr;
  };

  // Checks and adds a route; on refusal returns OSSA_E_INVALID_ARGUMENT and says why in `error`.
  ossa_status add(Route route, std::string& error);
  void remove_owner(const void* owner);
  size_t size() const;

  bool handle(const http::RouteRequest& request, http::RouteResponse& response) override;

 private:
  mutable std::shared_mutex mutex_;
  std::vector<Route> routes_;
};

// The table's functions (plugin_api.cpp puts them in ossa_host_api).
ossa_status api_register_http_route(ossa_host* host, const char* method, const char* path_prefix,
                                    ossa_http_fn route, void* user);
ossa_status api_http_response_set(ossa_http_response* response, int32_t status,
                                  const char* content_type, const void* body, size_t body_size);
ossa_status api_http_response_header(ossa_http_response* response, const char* name,
                                     const char* value);

}  // namespace ossa::plugins
