#include "plugins/http_routes.h"

#include <cctype>
#include <cstring>
#include <mutex>

#include "plugins/plugin_host.h"
#include "util/log.h"

namespace ossa::plugins {
namespace {

bool is_route_method(const std::string& m) {
  return m == "GET" || m == "POST" || m == "PUT" || m == "PATCH" || m == "DELETE" || m == "OPTIONS";
}

// RFC 9110 token characters (header names).
bool is_token(const char* text) {
  if (text == nullptr || *text == '\0') return false;
  for (const char* p = text; *p != '\0'; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
    if (!ok) return false;
  }
  return true;
}

bool has_line_break(const char* text) {
  return std::strpbrk(text, "\r\n") != nullptr;
}

bool iequals(const std::string& a, const char* b) {
  if (a.size() != std::strlen(b)) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

// The prefix without its trailing '/', or "" (with `error` set) when it is not acceptable for
// `plugin`: it must be /plugins/<plugin> or below, and plain (no escapes, dots or empty segments).
std::string normalised_prefix(const std::string& given, const std::string& plugin,
                              std::string& error) {
  const std::string space = "/plugins/" + plugin;
  std::string prefix = given;
  while (prefix.size() > space.size() && prefix.back() == '/') prefix.pop_back();
  if (prefix.compare(0, space.size(), space) != 0 ||
      (prefix.size() > space.size() && prefix[space.size()] != '/')) {
    error = "path prefix '" + given + "' is outside " + space + "/";
    return "";
  }
  for (unsigned char c : prefix) {
    if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '%' || c == '\\') {
      error = "path prefix '" + given + "' has a space, a control character, '?', '#', '%' or '\\'";
      return "";
    }
  }
  const auto ends_with = [&](const char* tail) {
    const size_t n = std::strlen(tail);
    return prefix.size() >= n && prefix.compare(prefix.size() - n, n, tail) == 0;
  };
  if (prefix.find("//") != std::string::npos || prefix.find("/./") != std::string::npos ||
      prefix.find("/../") != std::string::npos || ends_with("/.") || ends_with("/..")) {
    error = "path prefix '" + given + "' has an empty, '.' or '..' segment";
    return "";
  }
  return prefix;
}

bool prefix_matches(const std::string& prefix, const std::string& path) {
  return path.compare(0, prefix.size(), prefix) == 0 &&
         (path.size() == prefix.size() || path[prefix.size()] == '/');
}

}  // namespace

ossa_status HttpRoutes::add(Route route, std::string& error) {
  if (!is_route_method(route.method)) {
    error = "method '" + route.method + "' is not one of GET, POST, PUT, PATCH, DELETE, OPTIONS";
    return OSSA_E_INVALID_ARGUMENT;
  }
  route.prefix = normalised_prefix(route.prefix, route.plugin, error);
  if (route.prefix.empty()) return OSSA_E_INVALID_ARGUMENT;
  std::unique_lock lock(mutex_);
  for (const auto& r : routes_) {
    if (r.method == route.method && r.prefix == route.prefix) {
      error = route.method + " " + route.prefix + " is already registered";
      return OSSA_E_INVALID_ARGUMENT;
    }
  }
  routes_.push_back(std::move(route));
  return OSSA_OK;
}

void HttpRoutes::remove_owner(const void* owner) {
  std::unique_lock lock(mutex_);
  std::vector<Route> kept;
  for (auto& r : routes_)
    if (r.owner != owner) kept.push_back(std::move(r));
  routes_ = std::move(kept);
}

size_t HttpRoutes::size() const {
  std::shared_lock lock(mutex_);
  return routes_.size();
}

bool HttpRoutes::handle(const http::RouteRequest& request, http::RouteResponse& response) {
  const std::string wanted = request.method == "HEAD" ? "GET" : request.method;
  Route chosen;
  bool found = false;
  std::string allowed;  // methods of the matching prefixes, for a 405
  {
    std::shared_lock lock(mutex_);
    for (const auto& r : routes_) {
      if (!prefix_matches(r.prefix, request.path)) continue;
      if (r.method != wanted) {
        if (allowed.find(r.method) == std::string::npos)
          allowed += (allowed.empty() ? "" : ", ") + r.method;
        continue;
      }
      if (!found || r.prefix.size() > chosen.prefix.size()) {
        chosen = r;
        found = true;
      }
    }
  }
  if (!found) {
    if (allowed.empty()) return false;
    response.status = 405;
    response.content_type = "text/plain";
    response.body = request.method + " is not allowed on " + request.path + "\n";
    response.headers.emplace_back("Allow", allowed);
    return true;
  }

  const ossa_http_request c_request{
      sizeof(ossa_http_request),    request.method.c_str(),
      request.path.c_str(),         request.query.c_str(),
      request.headers_text.c_str(), reinterpret_cast<const uint8_t*>(request.body.c_str()),
      request.body.size(),          request.peer_address.c_str()};
  ossa_http_response built;
  ossa_status status = OSSA_ERROR;
  std::string failure;
  try {
    status = chosen.function(chosen.user, &c_request, &built);
    if (status != OSSA_OK)
      failure = "failed (status " + std::to_string(status) + ")";
    else if (!built.set)
      failure = "returned without a response (http_response_set was not called)";
  } catch (const std::exception& e) {
    failure = std::string("threw: ") + e.what();  // a C++ plugin without the SDK's wrappers
  } catch (...) {
    failure = "threw";
  }
  if (!failure.empty()) {
    log::error("[", chosen.plugin, "] HTTP route ", request.method, " ", request.path, " from ",
               request.peer_address, " ", failure);
    response = http::RouteResponse{};
    response.status = 500;
    response.content_type = "text/plain";
    response.body = "the plugin " + chosen.plugin + " failed to answer this request\n";
    return true;
  }
  response.status = built.status;
  response.content_type = std::move(built.content_type);
  response.body = std::move(built.body);
  response.headers = std::move(built.headers);
  return true;
}

// --- the table's functions ---

ossa_status api_register_http_route(ossa_host* h, const char* method, const char* path_prefix,
                                    ossa_http_fn route, void* user) {
  if (!h || !method || !path_prefix || !route) return OSSA_E_INVALID_ARGUMENT;
  if (!h->host->initialising()) return OSSA_E_WRONG_TIME;
  std::string error;
  const ossa_status status = h->host->http_routes().add(
      {h->plugin, h->plugin->name, method, path_prefix, route, user}, error);
  if (status != OSSA_OK) log::error("[", h->plugin->name, "] register_http_route refused: ", error);
  return status;
}

ossa_status api_http_response_set(ossa_http_response* response, int32_t status,
                                  const char* content_type, const void* body, size_t body_size) {
  if (!response || status < 200 || status > 599 || (!body && body_size != 0))
    return OSSA_E_INVALID_ARGUMENT;
  if (content_type && (*content_type == '\0' || has_line_break(content_type)))
    return OSSA_E_INVALID_ARGUMENT;
  try {
    std::string copied = body ? std::string(static_cast<const char*>(body), body_size) : "";
    response->content_type = content_type ? content_type : "application/octet-stream";
    response->body = std::move(copied);
  } catch (...) {
    return OSSA_ERROR;  // out of memory
  }
  response->status = status;
  response->set = true;
  return OSSA_OK;
}

ossa_status api_http_response_header(ossa_http_response* response, const char* name,
                                     const char* value) {
  if (!response || !is_token(name) || !value || has_line_break(value))
    return OSSA_E_INVALID_ARGUMENT;
  const std::string n = name;
  for (const char* reserved : {"Content-Length", "Content-Type", "Transfer-Encoding", "Connection"})
    if (iequals(n, reserved)) return OSSA_E_INVALID_ARGUMENT;
  try {
    response->headers.emplace_back(n, value);
  } catch (...) {
    return OSSA_ERROR;
  }
  return OSSA_OK;
}

}  // namespace ossa::plugins
