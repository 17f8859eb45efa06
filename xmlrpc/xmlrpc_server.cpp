#include "xmlrpc/xmlrpc_server.h"

#include <arpa/inet.h>
#include <malloc.h>

#include <httplib.h>
#include <xmlrpc-c/base.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "util/log.h"
#include "util/thread_name.h"

namespace ossa::xmlrpc {
namespace {

constexpr size_t kTrimAfterResponseBytes = size_t{1} << 20;

std::string base64_decode(const std::string& in) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else if (c == '=')
      break;
    else
      return {};
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

// Compares without leaking, through timing, how much of the token a guess got right.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ (i < b.size() ? b[i] : 0);
  return diff == 0;
}

std::string peer_of(const httplib::Request& req) {
  return req.remote_addr + ":" + std::to_string(req.remote_port);
}

}  // namespace

bool is_loopback(const std::string& address) {
  if (address == "localhost" || address == "::1") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  return false;
}

XmlRpcServer::XmlRpcServer(ServerOptions options, Services services)
    : options_(std::move(options)), services_(std::move(services)) {
  add_osirix_methods(registry_, services_);
  add_ossa_methods(registry_, services_);
  add_plugin_methods(registry_, services_);
}

XmlRpcServer::~XmlRpcServer() {
  stop();
}

bool XmlRpcServer::authorized(const std::string& header) const {
  if (options_.token.empty()) return true;
  if (header.rfind("Bearer ", 0) == 0) return same_secret(header.substr(7), options_.token);
  if (header.rfind("Basic ", 0) == 0) {
    const std::string pair = base64_decode(header.substr(6));
    const size_t colon = pair.find(':');
    return colon != std::string::npos && same_secret(pair.substr(colon + 1), options_.token);
  }
  return false;
}

void XmlRpcServer::open() {
  // xmlrpc-c refuses XML beyond its own limit (512 KiB by default) with an unhelpful error; the
  // HTTP layer already bounds the body, so xmlrpc-c takes whatever got through.
  xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, options_.max_request_bytes + 1024);
  http_ = std::make_unique<httplib::Server>();
  http_->new_task_queue = [threads = options_.worker_threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  http_->set_payload_max_length(options_.max_request_bytes);
  http_->set_read_timeout(30, 0);
  http_->set_write_timeout(30, 0);
  http_->set_keep_alive_max_count(100);
  const auto check = [this](const httplib::Request& req, httplib::Response& res) {
    if (authorized(req.get_header_value("Authorization"))) return true;
    log::warning("xml-rpc: 401 for ", peer_of(req), " (",
                 req.has_header("Authorization") ? "wrong credentials" : "no credentials", ")");
    res.status = 401;
    res.set_header("WWW-Authenticate", "Basic realm=\"Ossa XML-RPC\"");
    res.set_content(
        "401 Unauthorized: give the xmlrpc.token as HTTP Basic password or Bearer "
        "token\n",
        "text/plain");
    return false;
  };
  http_->Post(R"(.*)", [this, check](const httplib::Request& req, httplib::Response& res) {
    if (!check(req, res)) return;
    // The last large answer was freed only after it was sent, i.e. after its own trim below.
    if (trim_before_next_.exchange(false)) ::malloc_trim(0);
    CallContext context{peer_of(req)};
    std::string method;
    std::string response = registry_.handle(req.body, context, method);
    log::debug("xml-rpc ", method.empty() ? "(unparsable call)" : method, " from ", context.peer);
    // A large answer (DBWindowFind of thousands of studies) needs tens of MB while it is built;
    // glibc keeps freed memory in the arena of the worker thread that used it, so every worker
    // would keep its own peak for good. Give it back to the system now.
    const bool large = response.size() >= kTrimAfterResponseBytes;
    res.body = std::move(response);  // not set_content(), which would copy it once more
    res.set_header("Content-Type", "text/xml");
    if (large) {
      ::malloc_trim(0);
      trim_before_next_ = true;
    }
  });
  const auto not_allowed = [check](const httplib::Request& req, httplib::Response& res) {
    if (!check(req, res)) return;
    res.status = 405;
    res.set_header("Allow", "POST");
    res.set_content("405: XML-RPC calls are POSTed\n", "text/plain");
  };
  http_->Get(R"(.*)", not_allowed);
  http_->Put(R"(.*)", not_allowed);
  http_->Delete(R"(.*)", not_allowed);
  http_->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 413)
      res.set_content("413: the request is larger than xmlrpc.max_request_bytes\n", "text/plain");
  });
  errno = 0;
  if (!http_->bind_to_port(options_.bind.c_str(), options_.port)) {
    const int error = errno;
    throw std::runtime_error("cannot listen for XML-RPC on " + options_.bind + ":" +
                             std::to_string(options_.port) + ": " +
                             (error ? std::strerror(error) : "address unavailable") +
                             " (is another program using xmlrpc.port?)");
  }
}

void XmlRpcServer::start() {
  if (!http_) open();
  thread_ = std::thread([this] {
    util::name_this_thread("ossa-xmlrpc");
    http_->listen_after_bind();
  });
  log::info("xml-rpc: listening on ", options_.bind, ":", options_.port,
            options_.token.empty() ? " (no token: loopback only)" : " (token required)");
}

void XmlRpcServer::stop() {
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace ossa::xmlrpc
