#pragma once
// Paces background sends while instances are arriving.
//
// A send job (routing's forwards above all) reads and sends files on the same machine, at the
// same time, as the C-STOREs it forwards are received; even at the lowest CPU priority it takes
// a share of the cores, the caches and the network stack from them (measured: a quarter of the
// ingest rate with every instance forwarded to a node on the same two cores). While the ingest is
// busy, the pacer has a sender pause after each instance long enough that sending takes at most
// `share_percent` of its time; when no instance has arrived for a moment, it sends at full speed
// and catches up. A modality waiting for its C-STORE answers comes first; the forwards follow.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>

namespace ossa::jobs {

class SendPacer {
 public:
  using Clock = std::chrono::steady_clock;

  // `ingest_batches` counts the ingest's group commits so far (IngestStats::batches): when it
  // moved within `quiet_after`, instances are arriving.
  SendPacer(std::function<uint64_t()> ingest_batches, int share_percent,
            Clock::duration quiet_after = std::chrono::milliseconds(200),
            Clock::duration longest_pause = std::chrono::milliseconds(250))
      : ingest_batches_(std::move(ingest_batches)),
        share_percent_(std::clamp(share_percent, 1, 100)),
        quiet_after_(quiet_after),
        longest_pause_(longest_pause) {}

  // After an instance whose sending took `elapsed`: how long to wait before the next one.
  Clock::duration pause_after(Clock::duration elapsed, Clock::time_point now = Clock::now()) {
    if (share_percent_ >= 100) return Clock::duration::zero();
    const uint64_t batches = ingest_batches_();
    if (batches != last_batches_) {
      last_batches_ = batches;
      last_change_ = now;
      seen_change_ = true;
    }
    if (!seen_change_ || now - last_change_ > quiet_after_) return Clock::duration::zero();
    const auto pause = elapsed * (100 - share_percent_) / share_percent_;
    return std::min<Clock::duration>(pause, longest_pause_);
  }

 private:
  const std::function<uint64_t()> ingest_batches_;
  const int share_percent_;
  const Clock::duration quiet_after_;
  const Clock::duration longest_pause_;
  uint64_t last_batches_ = 0;
  Clock::time_point last_change_{};
  bool seen_change_ = false;
};

}  // namespace ossa::jobs
