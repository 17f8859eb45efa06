#pragma once
// The MLLP listener: a TCP server on its own threads (one accepting, one per connection).
//
// Each connection reads MLLP frames (mllp.h) and answers every message with what `on_message`
// returns, on the same connection, in order. Framing problems go to `on_framing_error`, which
// may return an ACK (a rejection) to send; every problem and every connection closed by either
// side is logged. Connections are closed after `idle_timeout_seconds` without a byte, when the
// peer is not in `allowed_peers` (when that list is not empty), and beyond `max_connections`.
//
// Thread safety: start/stop from one thread (the plugin's init/shutdown). The callbacks run on
// connection threads, several at once: they must be thread-safe.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "log.h"

namespace ossa::hl7 {

struct ListenerOptions {
  std::string bind = "127.0.0.1";
  uint16_t port = 2575;
  std::vector<std::string> allowed_peers;  // IP addresses; empty = any
  size_t max_message_bytes = 1024 * 1024;
  int idle_timeout_seconds = 300;
  size_t max_connections = 32;
};

struct ListenerCallbacks {
  // A complete message -> the ACK to send (unframed; "" sends nothing).
  std::function<std::string(const std::string& message, const std::string& peer)> on_message;
  // A framing problem: `data` is what was received (possibly only the head of it), `problem`
  // says what was wrong -> an ACK to send ("" sends nothing).
  std::function<std::string(const std::string& data, const std::string& peer,
                            const std::string& problem)>
      on_framing_error;
  LogFn log;
};

class Listener {
 public:
  Listener() = default;
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  bool start(const ListenerOptions& options, ListenerCallbacks callbacks, std::string& error);
  // Stops accepting, wakes every connection, waits for the threads. A message being processed
  // is finished and acknowledged first.
  void stop();
  // The port listened on (the chosen one when the configured port is 0).
  [[nodiscard]] uint16_t port() const { return bound_port_; }

 private:
  struct Connection {
    std::thread thread;
    std::atomic<bool> finished{false};
  };

  void accept_loop();
  void serve(int fd, const std::string& peer, Connection* self);
  void reap(bool all);
  bool peer_allowed(const std::string& peer) const;
  void log(LogLevel level, const std::string& message) const;

  ListenerOptions options_;
  ListenerCallbacks callbacks_;
  int listen_fd_ = -1;
  int wake_read_ = -1, wake_write_ = -1;  // a pipe: readable once stop() was called
  uint16_t bound_port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex connections_mutex_;
  std::list<std::unique_ptr<Connection>> connections_;  // guarded by connections_mutex_
};

}  // namespace ossa::hl7
