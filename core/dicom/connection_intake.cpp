#include "dicom/connection_intake.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/dul.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <mutex>

namespace ossa::dicom {
namespace {

// Far above any real A-ASSOCIATE-RQ (128 contexts and user items stay under 64 KiB).
constexpr uint32_t kMaxRequestPduLength = 1u << 20;
// Waiting beyond what the kernel buffers by default would never end; DCMTK reads the rest.
constexpr int kEnoughBuffered = 64 * 1024;

std::mutex g_external_socket_mutex;

}  // namespace

long raise_open_files_limit(long needed) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < static_cast<rlim_t>(needed)) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? needed : static_cast<long>(limit.rlim_cur);
}

int accept_connection(int listen_fd, int timeout_ms) {
  pollfd pfd{listen_fd, POLLIN, 0};
  const int ready = ::poll(&pfd, 1, timeout_ms);
  if (ready <= 0) return -1;
  const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return -1;
  const int one = 1;
  // Without this every small DIMSE message waits ~40 ms for the peer's delayed ACK.
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool wait_for_request_pdu(int fd, int timeout_seconds, std::string& why) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while (true) {
    unsigned char header[6];
    const ssize_t peeked = ::recv(fd, header, sizeof header, MSG_PEEK | MSG_DONTWAIT);
    if (peeked == 0) {
      why = "closed before sending an association request";
      return false;
    }
    if (peeked < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      why = "connection error before the association request";
      return false;
    }
    if (peeked == static_cast<ssize_t>(sizeof header)) {
      const uint32_t length = (uint32_t{header[2]} << 24) | (uint32_t{header[3]} << 16) |
                              (uint32_t{header[4]} << 8) | uint32_t{header[5]};
      if (length > kMaxRequestPduLength) {
        why = "first PDU announces " + std::to_string(length) + " bytes; not a DICOM peer?";
        return false;
      }
      int available = 0;
      ::ioctl(fd, FIONREAD, &available);
      const int64_t needed = std::min<int64_t>(int64_t{6} + length, kEnoughBuffered);
      if (available >= needed) return true;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      why = "no complete association request within " + std::to_string(timeout_seconds) +
            " s (server.acse_timeout)";
      return false;
    }
    pollfd pfd{fd, POLLIN, 0};
    ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left, 200)));
  }
}

T_ASC_Association* receive_association(T_ASC_Network* network, int fd, uint32_t max_pdu,
                                       std::string& why) {
  T_ASC_Association* association = nullptr;
  OFCondition cond;
  {
    std::lock_guard<std::mutex> lock(g_external_socket_mutex);
    dcmExternalSocketHandle.set(fd);
    cond = ASC_receiveAssociation(network, &association, static_cast<long>(max_pdu), nullptr,
                                  nullptr, OFFalse, DUL_BLOCK, 0);
    dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
  }
  if (cond.good()) return association;
  why = cond.text();
  if (association) {
    ASC_dropAssociation(association);  // closes the socket DCMTK took over
    ASC_destroyAssociation(&association);
  } else {
    ::close(fd);
  }
  return nullptr;
}

}  // namespace ossa::dicom
