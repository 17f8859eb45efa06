// MSH-18 character sets and their conversion to UTF-8 with iconv.

#include "charset.h"

#include <gtest/gtest.h>

namespace {

using ossa::hl7::convert;
using ossa::hl7::iconv_charset;

TEST(Charset, Table0211Names) {
  EXPECT_EQ(*iconv_charset(""), "ASCII");
  EXPECT_EQ(*iconv_charset("ASCII"), "ASCII");
  EXPECT_EQ(*iconv_charset("8859/1"), "ISO-8859-1");
  EXPECT_EQ(*iconv_charset(" 8859/5 "), "ISO-8859-5");
  EXPECT_EQ(*iconv_charset("8859/9"), "ISO-8859-9");
  EXPECT_EQ(*iconv_charset("UNICODE UTF-8"), "UTF-8");
  EXPECT_EQ(*iconv_charset("ISO IR87"), "ISO-2022-JP");
  EXPECT_EQ(*iconv_charset("GB 18030-2000"), "GB18030");
  EXPECT_EQ(*iconv_charset("KS X 1001"), "EUC-KR");
  EXPECT_FALSE(iconv_charset("KLINGON"));
  EXPECT_FALSE(iconv_charset("UNICODE UTF-16"));  // not readable as ER7 bytes
  EXPECT_EQ(ossa::hl7::dicom_charset("8859/1"), "ISO_IR 100");
  EXPECT_EQ(ossa::hl7::dicom_charset("UNICODE UTF-8"), "ISO_IR 192");
}

TEST(Charset, EveryMappedCharsetIsKnownToIconv) {
  for (const char* name :
       {"ASCII", "8859/1", "8859/2", "8859/3", "8859/4", "8859/5", "8859/6", "8859/7", "8859/8",
        "8859/9", "8859/15", "UNICODE UTF-8", "ISO IR14", "ISO IR87", "ISO IR159", "KS X 1001",
        "GB 18030-2000", "BIG-5", "CNS 11643-1992"}) {
    std::string out, error;
    EXPECT_TRUE(convert("abc", *iconv_charset(name), "UTF-8", out, error)) << name << ": " << error;
    EXPECT_EQ(out, "abc") << name;
  }
}

TEST(Charset, ConvertsToUtf8) {
  std::string out, error;
  ASSERT_TRUE(convert("M\xFCller^J\xF6rg", "ISO-8859-1", "UTF-8", out, error)) << error;
  EXPECT_EQ(out, "M\xC3\xBCller^J\xC3\xB6rg");
  ASSERT_TRUE(convert("\xB0\xD0", "ISO-8859-5", "UTF-8", out, error)) << error;
  EXPECT_EQ(out, "\xD0\x90\xD0\xB0");  // Cyrillic capital and small A
  // GB18030: second bytes can be '\\' or '|' in the raw message; after conversion they are gone.
  ASSERT_TRUE(convert("\xD5\xC5\xC8\xFD", "GB18030", "UTF-8", out, error)) << error;
  EXPECT_EQ(out, "\xE5\xBC\xA0\xE4\xB8\x89");  // 张三
}

TEST(Charset, InvalidBytesFailOrBecomeQuestionMarks) {
  std::string out, error;
  EXPECT_FALSE(convert("M\xFCller", "ASCII", "UTF-8", out, error));
  EXPECT_NE(error.find("byte 1"), std::string::npos) << error;
  EXPECT_FALSE(convert("\xC3", "UTF-8", "ISO-8859-1", out, error));
  ASSERT_TRUE(convert("M\xC3\xBCller \xE5\xB1\xB1", "UTF-8", "ISO-8859-1", out, error, true));
  EXPECT_EQ(out.substr(0, 7), "M\xFCller ");
  EXPECT_NE(out.find('?'), std::string::npos);
}

TEST(Charset, UnknownIconvNameIsAnError) {
  std::string out, error;
  EXPECT_FALSE(convert("x", "NO-SUCH-CHARSET", "UTF-8", out, error));
  EXPECT_NE(error.find("NO-SUCH-CHARSET"), std::string::npos);
}

}  // namespace
