#pragma once
// Coalesces a burst of small DIMSE messages into few, large socket writes.
//
// A C-FIND with hundreds of matches sends two small PDUs per match (command and identifier, a
// few hundred bytes each), and DCMTK writes each PDU with two system calls. While a
// ResponseCoalescing is alive, the association's connection holds those bytes in memory
// (dicom/buffered_connection.h) and writes them in blocks of up to 64 KiB; the first message
// leaves at once, what is held after it at least every `max_delay`, and the rest when the burst
// ends. On a connection that cannot hold writes, nothing changes.

#include <chrono>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/assoc.h"

namespace ossa::dicom {

class BufferedTcpConnection;

class ResponseCoalescing {
 public:
  explicit ResponseCoalescing(T_ASC_Association* association,
                              std::chrono::milliseconds max_delay = std::chrono::milliseconds(20));
  ~ResponseCoalescing();  // everything held leaves now
  ResponseCoalescing(const ResponseCoalescing&) = delete;
  ResponseCoalescing& operator=(const ResponseCoalescing&) = delete;

  // Call after each message: sends the first at once, then what is held once it has waited
  // `max_delay`.
  void sent();

 private:
  BufferedTcpConnection* connection_;
  std::chrono::milliseconds max_delay_;
  std::chrono::steady_clock::time_point flushed_at_;
  bool any_sent_ = false;
};

}  // namespace ossa::dicom
