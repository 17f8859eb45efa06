#include "dicom/response_coalescing.h"

#include "dicom/buffered_connection.h"

namespace ossa::dicom {

ResponseCoalescing::ResponseCoalescing(T_ASC_Association* association,
                                       std::chrono::milliseconds max_delay)
    : connection_(buffered_connection_of(association)),
      max_delay_(max_delay),
      flushed_at_(std::chrono::steady_clock::now()) {
  if (connection_) connection_->hold_writes();
}

ResponseCoalescing::~ResponseCoalescing() {
  // A failure here shows up as a failed write or read on the association's next exchange.
  if (connection_) connection_->release_writes();
}

void ResponseCoalescing::sent() {
  if (!connection_) return;
  const auto now = std::chrono::steady_clock::now();
  // The first message leaves at once: a viewer lists the first match without waiting, and a
  // client that cancels after the first answers gets its C-CANCEL to us while the rest is still
  // being encoded (held, the first 64 KiB left together, often with all of a few hundred matches).
  if (any_sent_ && now - flushed_at_ < max_delay_) return;
  any_sent_ = true;
  connection_->flush();
  flushed_at_ = now;
}

}  // namespace ossa::dicom
