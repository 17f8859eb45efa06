// ACK building: swapped applications, same version, MSA-2 = MSH-10, ERR by version.

#include "ack.h"

#include <gtest/gtest.h>

namespace {

using namespace ossa::hl7;

ReceivedHeader header(const std::string& text) {
  std::string error;
  auto m = Message::parse(text, error);
  EXPECT_TRUE(m) << error;
  return ReceivedHeader::from(*m);
}

std::vector<std::string> segments(const std::string& ack) {
  std::vector<std::string> out = split(ack, '\r');
  EXPECT_EQ(out.back(), "") << "the ACK ends with CR";
  out.pop_back();
  return out;
}

TEST(Ack, AcceptSwapsApplicationsAndEchoesTheControlId) {
  const auto h =
      header("MSH|^~\\&|RIS|HOSP|OSSA|PACS|20240101||ADT^A08^ADT_A01|CTRL\\F\\1|P|2.5.1\r");
  const std::string ack = build_ack(h, AckDecision::accept(), "ME", "ACK1", "20240102030405", "");
  const auto s = segments(ack);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0], "MSH|^~\\&|OSSA|PACS|RIS|HOSP|20240102030405||ACK^A08^ACK|ACK1|P|2.5.1");
  EXPECT_EQ(s[1], "MSA|AA|CTRL\\F\\1");  // byte for byte, still escaped
}

TEST(Ack, VersionTwoThreeHasNoStructureAndUsesErr1) {
  const auto h = header("MSH|^~\\&|RIS|HOSP|||20240101||ADT^A01|42|T|2.3\r");
  const std::string ack =
      build_ack(h,
                AckDecision::fail(AckCode::kError, error_code::kRequiredFieldMissing,
                                  "PID-3 missing|x", "PID", 3),
                "OSSA", "ACK2", "20240102030405", "");
  const auto s = segments(ack);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0], "MSH|^~\\&|OSSA||RIS|HOSP|20240102030405||ACK^A01|ACK2|T|2.3");
  EXPECT_EQ(s[1], "MSA|AE|42|PID-3 missing\\F\\x");
  EXPECT_EQ(s[2], "ERR|PID^1^3^101&Required field missing&HL70357");
}

TEST(Ack, VersionTwoFiveErrUsesFields2To8) {
  const auto h = header("MSH|^~\\&|RIS|HOSP|OSSA|PACS|20240101||ORM^O01|7|P|2.5\r");
  const std::string ack = build_ack(
      h, AckDecision::fail(AckCode::kReject, error_code::kUnsupportedVersion, "why", "MSH", 12),
      "OSSA", "ACK3", "20240102030405", "");
  const auto s = segments(ack);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[1], "MSA|AR|7|why");
  EXPECT_EQ(s[2], "ERR||MSH^1^12|203^Unsupported version id^HL70357|E||||why");
}

TEST(Ack, CharsetAndForeignDelimiters) {
  const auto h = header("MSH#*@!$#RIS#HOSP#OSSA#PACS#1##ADT*A08#9#P#2.4#####8859/1\r");
  const std::string ack =
      build_ack(h, AckDecision::accept("a#b"), "OSSA", "X", "20240101000000", "8859/1");
  const auto s = segments(ack);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0], "MSH#*@!$#OSSA#PACS#RIS#HOSP#20240101000000##ACK*A08#X#P#2.4######8859/1");
  EXPECT_EQ(s[1], "MSA#AA#9#a!F!b");
}

TEST(Ack, EmptyHeaderStillGivesAnAck) {
  const std::string ack = build_ack(
      ReceivedHeader{},
      AckDecision::fail(AckCode::kReject, error_code::kRequiredFieldMissing, "malformed MSH"),
      "OSSA", "X", "20240101000000", "");
  const auto s = segments(ack);
  ASSERT_GE(s.size(), 2u);
  EXPECT_EQ(s[0].substr(0, 14), "MSH|^~\\&|OSSA|");
  EXPECT_EQ(s[1], "MSA|AR||malformed MSH");
}

}  // namespace
