#include "listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "mllp.h"

namespace ossa::hl7 {
namespace {

// How long bytes outside a frame (or an end block without its CR) wait for more before they are
// reported: a sender that does not frame at all sends its message and waits.
constexpr int kOutsidePauseMs = 500;

std::string peer_address(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
  } else if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], text, sizeof text);
    } else {
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    }
  }
  return text;
}

bool send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    sent += static_cast<size_t>(n);
  }
  return true;
}

// A short description of a message for log lines: its MSH-9 and MSH-10 when they can be read.
std::string identify(const std::string& data) {
  const size_t msh = data.find("MSH");
  if (msh == std::string::npos || data.size() < msh + 5) return "no MSH";
  const char sep = data[msh + 3];
  std::vector<std::string> fields;
  size_t start = msh;
  while (fields.size() < 10) {
    const size_t at = data.find_first_of(std::string(1, sep) + "\r\n", start);
    fields.push_back(data.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos || data[at] != sep) break;
    start = at + 1;
  }
  // fields[k] is MSH-(k+1) for k >= 1 (fields[0] = "MSH").
  std::string out = "MSH-9 '" + (fields.size() > 8 ? fields[8] : std::string()) + "'";
  out += " MSH-10 '" + (fields.size() > 9 ? fields[9] : std::string()) + "'";
  return out;
}

}  // namespace

Listener::~Listener() {
  stop();
}

void Listener::log(LogLevel level, const std::string& message) const {
  if (callbacks_.log) callbacks_.log(level, message);
}

bool Listener::peer_allowed(const std::string& peer) const {
  if (options_.allowed_peers.empty()) return true;
  for (const auto& p : options_.allowed_peers) {
    if (p == peer) return true;
  }
  return false;
}

bool Listener::start(const ListenerOptions& options, ListenerCallbacks callbacks,
                     std::string& error) {
  options_ = options;
  callbacks_ = std::move(callbacks);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options.port);
  const int rc = getaddrinfo(options.bind.empty() ? nullptr : options.bind.c_str(), port.c_str(),
                             &hints, &found);
  if (rc != 0) {
    error = "cannot resolve bind address '" + options.bind + "': " + gai_strerror(rc);
    return false;
  }
  std::string last_error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    listen_fd_ = fd;
    break;
  }
  freeaddrinfo(found);
  if (listen_fd_ < 0) {
    error = "cannot listen on " + options.bind + ":" + port + ": " + last_error;
    return false;
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    bound_port_ =
        ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                         : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    ::close(listen_fd_);
    listen_fd_ = -1;
    return false;
  }
  wake_read_ = pipe_fds[0];
  wake_write_ = pipe_fds[1];
  stopping_ = false;
  acceptor_ = std::thread([this] { accept_loop(); });
  return true;
}

void Listener::stop() {
  if (!acceptor_.joinable()) return;
  stopping_ = true;
  const char byte = 1;
  while (::write(wake_write_, &byte, 1) < 0 && errno == EINTR) {
  }
  acceptor_.join();
  reap(true);
  ::close(listen_fd_);
  ::close(wake_read_);
  ::close(wake_write_);
  listen_fd_ = wake_read_ = wake_write_ = -1;
}

void Listener::reap(bool all) {
  std::list<std::unique_ptr<Connection>> done;
  {
    std::lock_guard<std::mutex> lock(connections_mutex_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (all || (*it)->finished) {
        done.push_back(std::move(*it));
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : done) {
    if (c->thread.joinable()) c->thread.join();
  }
}

void Listener::accept_loop() {
  while (!stopping_) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    const int ready = ::poll(fds, 2, 1000);
    reap(false);
    if (stopping_ || (ready > 0 && (fds[1].revents & POLLIN))) break;
    if (ready <= 0 || !(fds[0].revents & POLLIN)) continue;
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
        log(LogLevel::kWarning, std::string("accept: ") + std::strerror(errno));
      if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    const std::string peer = peer_address(addr);
    if (!peer_allowed(peer)) {
      log(LogLevel::kWarning, "connection from " + peer + " refused: not in allowed_peers");
      ::close(fd);
      continue;
    }
    std::lock_guard<std::mutex> lock(connections_mutex_);
    if (connections_.size() >= options_.max_connections) {
      log(LogLevel::kWarning, "connection from " + peer + " refused: already " +
                                  std::to_string(connections_.size()) +
                                  " connections (max_connections)");
      ::close(fd);
      continue;
    }
    auto conn = std::make_unique<Connection>();
    Connection* raw = conn.get();
    connections_.push_back(std::move(conn));
    raw->thread = std::thread([this, fd, peer, raw] { serve(fd, peer, raw); });
  }
}

void Listener::serve(int fd, const std::string& peer, Connection* self) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval send_timeout{30, 0};  // a peer that stops reading cannot hold the thread forever
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  log(LogLevel::kDebug, "connection from " + peer);

  MllpDecoder decoder(options_.max_message_bytes);
  std::vector<MllpEvent> events;
  std::vector<char> buffer(64 * 1024);
  using Clock = std::chrono::steady_clock;
  auto last_byte = Clock::now();
  std::string reason = "closed by the peer";
  bool open = true;
  uint64_t messages = 0;

  const auto handle_events = [&]() {
    for (auto& e : events) {
      std::string reply;
      switch (e.kind) {
        case MllpEvent::Kind::kMessage:
          ++messages;
          if (e.missing_cr)
            log(LogLevel::kWarning, peer + ": end block 0x1C not followed by 0x0D (tolerated)");
          reply = callbacks_.on_message(e.data, peer);
          break;
        case MllpEvent::Kind::kOversized:
          reply = callbacks_.on_framing_error(e.data, peer,
                                              "message too long: " + std::to_string(e.size) +
                                                  " bytes (max_message_bytes " +
                                                  std::to_string(options_.max_message_bytes) + ")");
          break;
        case MllpEvent::Kind::kInterrupted:
          reply = callbacks_.on_framing_error(
              e.data, peer,
              "frame interrupted: a start block 0x0B arrived before the end block 0x1C 0x0D (" +
                  std::to_string(e.size) + " bytes discarded)");
          break;
        case MllpEvent::Kind::kOutside:
          reply = callbacks_.on_framing_error(
              e.data, peer,
              std::to_string(e.size) + " bytes outside an MLLP frame" +
                  (e.missing_start ? " (end block without a start block 0x0B)"
                                   : " (no start block 0x0B)"));
          break;
      }
      if (!reply.empty() && open && !send_all(fd, mllp_frame(reply))) {
        reason = std::string("cannot send an ACK: ") + std::strerror(errno);
        open = false;
      }
    }
    events.clear();
  };

  while (open) {
    if (stopping_) {
      reason = "the server is stopping";
      break;
    }
    const auto idle =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last_byte);
    const long long idle_left = options_.idle_timeout_seconds * 1000LL - idle.count();
    if (idle_left <= 0) {
      reason = "idle for " + std::to_string(options_.idle_timeout_seconds) + " s";
      break;
    }
    const bool waiting_outside = decoder.has_outside_bytes() || decoder.in_frame();
    int timeout = static_cast<int>(std::min<long long>(idle_left, 60000));
    if (waiting_outside && decoder.has_outside_bytes())
      timeout = std::min(timeout, kOutsidePauseMs);
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    const int ready = ::poll(fds, 2, timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      reason = std::string("poll: ") + std::strerror(errno);
      break;
    }
    if (ready > 0 && (fds[1].revents & POLLIN)) {
      reason = "the server is stopping";
      break;
    }
    if (ready == 0) {
      // A pause: bytes outside a frame are complete as they are.
      if (decoder.has_outside_bytes()) {
        decoder.flush_outside(events);
        handle_events();
      }
      continue;
    }
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      reason = std::string("receive error: ") + std::strerror(errno);
      break;
    }
    if (n == 0) break;
    last_byte = Clock::now();
    decoder.feed(buffer.data(), static_cast<size_t>(n), events);
    handle_events();
  }
  decoder.flush_outside(events);
  handle_events();
  if (decoder.in_frame()) {
    log(LogLevel::kWarning, peer + ": connection " + reason + " in the middle of a message (" +
                                std::to_string(decoder.frame_bytes()) + " bytes, " +
                                identify(decoder.frame_head()) + "): not processed, no ACK");
  }
  ::close(fd);
  log(reason == "closed by the peer" ? LogLevel::kDebug : LogLevel::kInfo,
      "connection from " + peer + " " +
          (reason == "closed by the peer" ? reason : "closed: " + reason) + " after " +
          std::to_string(messages) + " message(s)");
  self->finished = true;
}

}  // namespace ossa::hl7
