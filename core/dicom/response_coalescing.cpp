#include "dicom/response_coalescing.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace ossa::dicom {

ResponseCoalescing::ResponseCoalescing(int socket, std::chrono::milliseconds max_delay)
    : socket_(socket), max_delay_(max_delay) {
  set_cork(true);
}

ResponseCoalescing::~ResponseCoalescing() {
  set_cork(false);
}

void ResponseCoalescing::sent() {
  if (socket_ < 0) return;
  if (std::chrono::steady_clock::now() - corked_at_ < max_delay_) return;
  set_cork(false);  // pushes the queued partial segment out
  set_cork(true);
}

void ResponseCoalescing::set_cork(bool on) {
  if (socket_ < 0) return;
  const int value = on ? 1 : 0;
  // A failure only loses the optimisation; the messages still go out.
  ::setsockopt(socket_, IPPROTO_TCP, TCP_CORK, &value, sizeof value);
  if (on) corked_at_ = std::chrono::steady_clock::now();
}

}  // namespace ossa::dicom
