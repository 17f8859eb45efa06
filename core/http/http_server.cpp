#include "http/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "http/testdbalive.h"
#include "util/log.h"
#include "util/thread_name.h"

namespace ossa::http {
namespace {

constexpr const char* kPluginRoutes = "/plugins/.*";

RouteRequest to_route_request(const httplib::Request& req) {
  RouteRequest out;
  out.method = req.method;
  out.path = req.path;
  const size_t question = req.target.find('?');
  if (question != std::string::npos) out.query = req.target.substr(question + 1);
  for (const auto& [name, value] : req.headers) {
    // httplib adds these itself; they were not sent by the client.
    if (name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" ||
        name == "LOCAL_PORT")
      continue;
    out.headers_text += name + ": " + value + "\r\n";
  }
  out.body = req.body;
  out.peer_address = req.remote_addr;
  return out;
}

}  // namespace

HttpServer::HttpServer(HttpOptions options, archive::Archive& archive)
    : options_(std::move(options)),
      archive_(archive),
      liveness_(std::make_unique<LivenessEndpoint>(archive, options_.index_busy_timeout,
                                                   options_.liveness_deadline)),
      server_(std::make_unique<httplib::Server>()) {}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::install_handlers() {
  httplib::Server& s = *server_;
  s.Get("/testdbalive", [this](const httplib::Request& req, httplib::Response& res) {
    liveness_->answer(req, res);
  });

  const auto plugin_route = [this](const httplib::Request& req, httplib::Response& res) {
    RouteResponse answer;
    if (routes_ == nullptr || !routes_->handle(to_route_request(req), answer)) {
      res.status = 404;
      res.set_content("no route for " + req.path + "\n", "text/plain");
      return;
    }
    res.status = answer.status;
    for (const auto& [name, value] : answer.headers) res.set_header(name, value);
    res.set_content(answer.body, answer.content_type);
  };
  s.Get(kPluginRoutes, plugin_route);
  s.Post(kPluginRoutes, plugin_route);
  s.Put(kPluginRoutes, plugin_route);
  s.Patch(kPluginRoutes, plugin_route);
  s.Delete(kPluginRoutes, plugin_route);
  s.Options(kPluginRoutes, plugin_route);

  s.set_exception_handler([](const httplib::Request& req, httplib::Response& res,
                             std::exception_ptr failure) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log::error("HTTP ", req.method, " ", req.path, " from ", req.remote_addr, " failed: ", what);
    res.status = 500;
    res.set_content("internal error\n", "text/plain");
  });
  // A bare status (404 for an unknown path, 413 for an oversize body, ...) gets a line of text.
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    res.set_content("HTTP " + std::to_string(res.status) + " (" + req.path + ")\n", "text/plain");
  });
  s.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    log::debug("HTTP ", req.method, " ", req.path, " from ", req.remote_addr, " -> ", res.status);
  });
  s.set_payload_max_length(options_.max_request_bytes);
  s.set_read_timeout(std::chrono::seconds(10));
  s.set_write_timeout(std::chrono::seconds(10));
  s.set_keep_alive_timeout(5);
  // httplib's default also sets SO_REUSEPORT, which would let a second server bind the same port
  // silently; only SO_REUSEADDR (restart while old connections linger in TIME_WAIT).
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
}

void HttpServer::open() {
  install_handlers();
  errno = 0;
  if (!server_->bind_to_port(options_.bind, options_.port)) {
    const int error = errno;
    throw std::runtime_error("cannot listen for HTTP on " + options_.bind + ":" +
                             std::to_string(options_.port) + ": " +
                             (error != 0 ? std::strerror(error) : "bind failed") +
                             " (http.port and http.bind in the configuration)");
  }
  log::info("HTTP listening on ", options_.bind, ":", options_.port);
}

void HttpServer::start() {
  thread_ = std::thread([this] {
    util::name_this_thread("ossa-http");
    if (!server_->listen_after_bind() && !stopping_) log::error("HTTP server stopped unexpectedly");
    finished_ = true;
  });
}

void HttpServer::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  // httplib's stop() does nothing before the listening loop has begun: wait for it to begin.
  while (!finished_ && !server_->is_running())
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (!finished_) server_->stop();
  thread_.join();
}

}  // namespace ossa::http
