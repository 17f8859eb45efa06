// MLLP framing: frames split anywhere, several per read, and every framing problem reported.

#include "mllp.h"

#include <gtest/gtest.h>

namespace {

using ossa::hl7::MllpDecoder;
using ossa::hl7::MllpEvent;
using Kind = MllpEvent::Kind;

std::vector<MllpEvent> feed(MllpDecoder& d, const std::string& bytes) {
  std::vector<MllpEvent> events;
  d.feed(bytes.data(), bytes.size(), events);
  return events;
}

TEST(Mllp, FramesSplitAcrossReadsAndSeveralInOneRead) {
  MllpDecoder d(1000);
  const std::string stream = ossa::hl7::mllp_frame("MSH|one") + ossa::hl7::mllp_frame("MSH|two");
  std::vector<MllpEvent> all;
  for (char c : stream) {
    for (auto& e : feed(d, std::string(1, c))) all.push_back(std::move(e));
  }
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].kind, Kind::kMessage);
  EXPECT_EQ(all[0].data, "MSH|one");
  EXPECT_EQ(all[1].data, "MSH|two");
  EXPECT_FALSE(d.in_frame());
  const auto both = feed(d, stream);
  ASSERT_EQ(both.size(), 2u);
}

TEST(Mllp, WhiteSpaceBetweenFramesIsIgnored) {
  MllpDecoder d(1000);
  auto events = feed(d, "\r\n" + ossa::hl7::mllp_frame("MSH|x") + "\n");
  d.flush_outside(events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kMessage);
}

TEST(Mllp, OversizedFrameKeepsItsHeadAndSize) {
  MllpDecoder d(10);
  const auto events = feed(d, ossa::hl7::mllp_frame("MSH|0123456789abcdef"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kOversized);
  EXPECT_EQ(events[0].data, "MSH|012345");
  EXPECT_EQ(events[0].size, 20u);
}

TEST(Mllp, StartBlockInsideAFrameInterruptsIt) {
  MllpDecoder d(1000);
  const auto events = feed(d, "\x0bMSH|half\x0bMSH|whole\x1c\r");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Kind::kInterrupted);
  EXPECT_EQ(events[0].data, "MSH|half");
  EXPECT_EQ(events[1].kind, Kind::kMessage);
  EXPECT_EQ(events[1].data, "MSH|whole");
}

TEST(Mllp, UnframedMessageIsReportedAtTheNextPause) {
  MllpDecoder d(1000);
  auto events = feed(d, "MSH|^~\\&|no frame\r");
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(d.has_outside_bytes());
  d.flush_outside(events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kOutside);
  EXPECT_EQ(events[0].data, "MSH|^~\\&|no frame\r");
  EXPECT_FALSE(events[0].missing_start);
}

TEST(Mllp, EndBlockWithoutStartBlock) {
  MllpDecoder d(1000);
  const auto events = feed(d, "MSH|x\x1c\r");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kOutside);
  EXPECT_TRUE(events[0].missing_start);
}

TEST(Mllp, EndBlockWithoutCarriageReturnIsTolerated) {
  MllpDecoder d(1000);
  auto events = feed(d, "\x0bMSH|a\x1c\x0bMSH|b\x1c");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "MSH|a");
  EXPECT_TRUE(events[0].missing_cr);
  d.flush_outside(events);  // a pause after the last FS
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].data, "MSH|b");
  EXPECT_TRUE(events[1].missing_cr);
}

TEST(Mllp, UnfinishedFrameIsVisible) {
  MllpDecoder d(1000);
  EXPECT_TRUE(feed(d, "\x0bMSH|part").empty());
  EXPECT_TRUE(d.in_frame());
  EXPECT_EQ(d.frame_bytes(), 8u);
  EXPECT_EQ(d.frame_head(), "MSH|part");
}

}  // namespace
