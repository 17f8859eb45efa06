#pragma once
// Coalesces a burst of small DIMSE messages into full TCP segments.
//
// A C-FIND with hundreds of matches sends two small PDUs per match (command and identifier, a
// few hundred bytes each). With Nagle's algorithm off (needed so a lone response never waits
// ~40 ms), each PDU is its own segment and wakes the peer once: on loopback, the per-message
// wake-ups of both sides cost more than finding and encoding the match. While a
// ResponseCoalescing is alive the socket is corked, so the kernel packs the PDUs into full
// segments; it is uncorked (which sends what is queued) at least every `max_delay`, so a viewer
// still sees the first matches at once, and when the burst ends.

#include <chrono>

namespace ossa::dicom {

class ResponseCoalescing {
 public:
  // `socket`: the association's TCP socket (-1: nothing is done).
  explicit ResponseCoalescing(int socket,
                              std::chrono::milliseconds max_delay = std::chrono::milliseconds(20));
  ~ResponseCoalescing();  // uncorks: everything queued leaves now
  ResponseCoalescing(const ResponseCoalescing&) = delete;
  ResponseCoalescing& operator=(const ResponseCoalescing&) = delete;

  // Call after each message: sends what is queued when it has waited `max_delay`.
  void sent();

 private:
  void set_cork(bool on);

  int socket_;
  std::chrono::milliseconds max_delay_;
  std::chrono::steady_clock::time_point corked_at_;
};

}  // namespace ossa::dicom
