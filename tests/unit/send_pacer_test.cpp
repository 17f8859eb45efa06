#include "jobs/send_pacer.h"

#include <gtest/gtest.h>

namespace ossa::jobs {
namespace {

using std::chrono::milliseconds;

TEST(SendPacer, FullSpeedUntilInstancesArrive) {
  uint64_t batches = 0;
  SendPacer pacer([&] { return batches; }, 10);
  const auto t0 = SendPacer::Clock::now();
  EXPECT_EQ(pacer.pause_after(milliseconds(2), t0), SendPacer::Clock::duration::zero());
  batches = 1;  // a group commit: instances are arriving
  EXPECT_EQ(pacer.pause_after(milliseconds(2), t0 + milliseconds(10)), milliseconds(18));
  // Still within the quiet period (200 ms): paced.
  EXPECT_EQ(pacer.pause_after(milliseconds(4), t0 + milliseconds(150)), milliseconds(36));
  // No commit for longer than that: full speed again, to catch up.
  EXPECT_EQ(pacer.pause_after(milliseconds(2), t0 + milliseconds(260)),
            SendPacer::Clock::duration::zero());
  batches = 2;
  EXPECT_EQ(pacer.pause_after(milliseconds(1), t0 + milliseconds(300)), milliseconds(9));
}

TEST(SendPacer, ThePauseIsBoundedAndAFullShareNeverPauses) {
  uint64_t batches = 0;
  SendPacer slow([&] { return batches; }, 1);
  SendPacer never([&] { return batches; }, 100);
  const auto t0 = SendPacer::Clock::now();
  batches = 5;
  EXPECT_EQ(slow.pause_after(milliseconds(50), t0), milliseconds(250));  // not 4.95 s
  EXPECT_EQ(never.pause_after(milliseconds(50), t0), SendPacer::Clock::duration::zero());
}

}  // namespace
}  // namespace ossa::jobs
