// ER7 parsing: delimiters from MSH, segment terminators, fields, repetitions, components,
// subcomponents and escape sequences.

#include "er7.h"

#include <gtest/gtest.h>

namespace {

using ossa::hl7::Delimiters;
using ossa::hl7::Message;

Message parse(const std::string& text) {
  std::string error;
  auto m = Message::parse(text, error);
  EXPECT_TRUE(m.has_value()) << error;
  return *m;
}

TEST(Er7, HeaderFieldsAreNumberedAsInHl7) {
  const Message m =
      parse("MSH|^~\\&|RIS|HOSP|OSSA|PACS|20240101120000||ADT^A08^ADT_A01|MSG1|P|2.5.1\r");
  const auto& msh = m.header();
  EXPECT_EQ(msh.field(1), "|");
  EXPECT_EQ(msh.field(2), "^~\\&");
  EXPECT_EQ(msh.field(3), "RIS");
  EXPECT_EQ(msh.field(9), "ADT^A08^ADT_A01");
  EXPECT_EQ(m.value(msh, 9, 0, 2), "A08");
  EXPECT_EQ(msh.field(10), "MSG1");
  EXPECT_EQ(msh.field(12), "2.5.1");
  EXPECT_EQ(msh.field(40), "");
}

TEST(Er7, DelimitersComeFromTheMessage) {
  const Message m =
      parse("MSH#*@!$#A#B######X#1#P#2.3\rPID#1##ID1*x*y*AUTH$SUB@ID2*##DOE*JOHN!x\r");
  const Delimiters& d = m.delimiters();
  EXPECT_EQ(d.field, '#');
  EXPECT_EQ(d.component, '*');
  EXPECT_EQ(d.repetition, '@');
  EXPECT_EQ(d.escape, '!');
  EXPECT_EQ(d.subcomponent, '$');
  const auto* pid = m.first("PID");
  ASSERT_NE(pid, nullptr);
  const auto reps = m.repetitions(pid->field(3));
  ASSERT_EQ(reps.size(), 2u);
  EXPECT_EQ(m.value_of(reps[0], 1), "ID1");
  EXPECT_EQ(m.value_of(reps[0], 4, 1), "AUTH");
  EXPECT_EQ(m.value_of(reps[0], 4, 2), "SUB");
  EXPECT_EQ(m.value_of(reps[1], 1), "ID2");
  EXPECT_EQ(m.value(*pid, 5, 0, 2), "JOHN!x");  // "!x" is not a complete escape: kept
}

TEST(Er7, SegmentTerminatorsCrLfAndCrLf) {
  for (const char* sep : {"\r", "\n", "\r\n"}) {
    const std::string text = std::string("MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.3") + sep + "EVN|A01" +
                             sep + sep + "PID|1||X" + sep;
    const Message m = parse(text);
    ASSERT_EQ(m.segments().size(), 3u) << "separator " << int(sep[0]);
    EXPECT_EQ(m.segments()[2].name, "PID");
    EXPECT_EQ(m.segments()[2].field(3), "X");
  }
}

TEST(Er7, Escapes) {
  const Message m = parse("MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5\r");
  EXPECT_EQ(m.unescape("a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"), "a|b^c&d~e\\f");
  EXPECT_EQ(m.unescape("line1\\.br\\line2"), "line1\r\nline2");
  EXPECT_EQ(m.unescape("\\H\\bold\\N\\"), "bold");
  EXPECT_EQ(m.unescape("x\\X41424344\\y"), "xABCDy");
  EXPECT_EQ(m.unescape("x\\XC3A9\\y"), "x\xC3\xA9y");  // UTF-8 bytes kept by default
  EXPECT_EQ(m.unescape("x\\Zlocal\\y"), "xy");         // locally defined: no text
  EXPECT_EQ(m.unescape("x\\C2842\\y"), "xy");          // charset switch: no text
  EXPECT_EQ(m.unescape("x\\.in+4\\y"), "xy");          // formatting: no text
  EXPECT_EQ(m.unescape("open \\F"), "open \\F");       // unterminated: as written
  EXPECT_EQ(m.unescape("\\Q\\"), "\\Q\\");             // unknown: as written
  EXPECT_EQ(m.unescape("\\XZZ\\"), "\\XZZ\\");         // bad hex: as written
}

TEST(Er7, HexDecoderConvertsFromTheMessageCharset) {
  Message m = parse("MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5|||||||8859/1\r");
  m.set_hex_decoder([](const std::string& bytes, std::string& out) {
    out.clear();
    for (unsigned char c : bytes) {  // Latin-1 to UTF-8
      if (c < 0x80) {
        out.push_back(static_cast<char>(c));
      } else {
        out.push_back(static_cast<char>(0xc0 | (c >> 6)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
      }
    }
    return true;
  });
  EXPECT_EQ(m.unescape("M\\XFC\\ller"), "M\xC3\xBCller");
}

TEST(Er7, EscapeRoundTrips) {
  const Delimiters d;
  const std::string text = "a|b^c&d~e\\f";
  EXPECT_EQ(ossa::hl7::escape(text, d), "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f");
  EXPECT_EQ(ossa::hl7::unescape(ossa::hl7::escape(text, d), d), text);
  EXPECT_EQ(ossa::hl7::escape("x\r\ny", d), "x\\.br\\y");
}

TEST(Er7, MalformedHeadersAreRefused) {
  std::string error;
  EXPECT_FALSE(Message::parse("PID|1||X\r", error));
  EXPECT_NE(error.find("MSH"), std::string::npos);
  EXPECT_FALSE(Message::parse("MSH", error));
  EXPECT_FALSE(Message::parse("MSHA^~\\&|X\r", error));         // alphanumeric separator
  EXPECT_FALSE(Message::parse("MSH|^^\\&|A|B\r", error));       // repeated encoding character
  EXPECT_FALSE(Message::parse("MSH||A|B|C|D|||ADT\r", error));  // empty MSH-2
  EXPECT_TRUE(Message::parse("\r\nMSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.3\r", error)) << error;
}

TEST(Er7, ShortEncodingCharacters) {
  // Only component and repetition: no escape character, so backslashes are text.
  const Message m = parse("MSH|^~|A|B|C|D|||ADT^A01|1|P|2.3\rPID|1||A\\B~C\r");
  EXPECT_EQ(m.delimiters().escape, '\0');
  const auto* pid = m.first("PID");
  EXPECT_EQ(m.value(*pid, 3, 0, 1), "A\\B");
  EXPECT_EQ(m.value(*pid, 3, 1, 1), "C");
}

TEST(Er7, Utf8Validation) {
  EXPECT_TRUE(ossa::hl7::is_valid_utf8("plain"));
  EXPECT_TRUE(ossa::hl7::is_valid_utf8("M\xC3\xBCller \xE5\xB1\xB1\xE7\x94\xB0"));
  EXPECT_FALSE(ossa::hl7::is_valid_utf8("M\xFCller"));     // Latin-1
  EXPECT_FALSE(ossa::hl7::is_valid_utf8("\xC3"));          // cut short
  EXPECT_FALSE(ossa::hl7::is_valid_utf8("\xC0\xAF"));      // overlong
  EXPECT_FALSE(ossa::hl7::is_valid_utf8("\xED\xA0\x80"));  // surrogate
}

}  // namespace
