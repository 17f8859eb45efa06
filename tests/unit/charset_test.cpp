// Specific Character Set decoding and encoding. The Japanese, Korean and Chinese byte strings are
// the examples of PS3.5 Annexes H-K; all byte strings were checked against pydicom's codecs where
// pydicom supports the set. The expected text is written in UTF-8.

#include "dicom/charset.h"

#include <gtest/gtest.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcsequen.h>

#include <optional>
#include <string>

namespace {

using ossa::dicom::CharsetDecoder;
using ossa::dicom::convert_dataset_from_utf8;
using ossa::dicom::is_ascii;

// Decodes `raw` and expects success; the decoder is built per call like the indexer does per file.
std::string decode(const std::string& charset, const std::string& raw, bool is_person_name = true) {
  CharsetDecoder decoder(charset);
  EXPECT_EQ(decoder.error(), "") << charset;
  const std::optional<std::string> text = decoder.to_utf8(raw, is_person_name);
  EXPECT_TRUE(text.has_value()) << charset;
  return text.value_or("<nullopt>");
}

std::string get_string(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return "<missing>";
  return std::string(value.c_str(), value.length());
}

TEST(CharsetDecoder, Latin1) {
  EXPECT_EQ(decode("ISO_IR 100", "Buc^J\xe9r\xf4me"), "Buc^Jérôme");
}

TEST(CharsetDecoder, Cyrillic) {
  // The usual sample name: "ceyp" really are ASCII letters, only the rest is Cyrillic.
  EXPECT_EQ(decode("ISO_IR 144",
                   "\xbb\xee\xda"
                   "ce\xdc\xd1yp\xd3"),
            "Люкceмбypг");
}

TEST(CharsetDecoder, Greek) {
  EXPECT_EQ(decode("ISO_IR 126", "\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2"), "Διονυσιος");
}

TEST(CharsetDecoder, Hebrew) {
  EXPECT_EQ(decode("ISO_IR 138", "\xf9\xf8\xe5\xef^\xe3\xe1\xe5\xf8\xe4"), "שרון^דבורה");
}

TEST(CharsetDecoder, Arabic) {
  EXPECT_EQ(decode("ISO_IR 127", "\xe2\xc8\xc7\xe6\xea^\xe4\xe6\xd2\xc7\xd1"), "قباني^لنزار");
}

TEST(CharsetDecoder, JapaneseKanji) {
  // PS3.5 H.3.1: every component switches to JIS X 0208 and back to ASCII.
  const std::string raw =
      "Yamada^Tarou="
      "\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B="
      "\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B";
  EXPECT_EQ(decode("ISO 2022 IR 6\\ISO 2022 IR 87", raw), "Yamada^Tarou=山田^太郎=やまだ^たろう");
}

TEST(CharsetDecoder, JapaneseKatakana) {
  // PS3.5 H.3.2: half-width katakana in G1 without escapes, JIS X 0201 Romaji restored by ESC ( J.
  const std::string raw =
      "\xd4\xcf\xc0\xde^\xc0\xdb\xb3="
      "\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J="
      "\x1b$B$d$^$@\x1b(J^\x1b$B$?$m$&\x1b(J";
  EXPECT_EQ(decode("ISO 2022 IR 13\\ISO 2022 IR 87", raw), "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう");
  // Some writers use the ISO_IR term as value 1; it designates the same sets.
  EXPECT_EQ(decode("ISO_IR 13\\ISO 2022 IR 87", raw), "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう");
}

TEST(CharsetDecoder, JapaneseDelimiterBytesInsideKanji) {
  // "ソ" is 0x25 0x3D and "俑" is 0x50 0x5C in JIS X 0208: '=' and '\' inside a pair are not
  // delimiters and must not reset the state.
  const std::string raw = "\x1b$B%=P\\\x1b(B^\x1b$B%=\x1b(B";
  EXPECT_EQ(decode("ISO 2022 IR 6\\ISO 2022 IR 87", raw), "ソ俑^ソ");
  // A multi-valued LO: the value delimiter after ESC ( B resets, the value continues in ASCII.
  EXPECT_EQ(decode("ISO 2022 IR 6\\ISO 2022 IR 87", "\x1b$B;3ED\x1b(B\\Tanaka", false),
            "山田\\Tanaka");
}

TEST(CharsetDecoder, JapaneseSupplementaryKanji) {
  // "鷗" is only in JIS X 0212 (ESC $ ( D); "森" and "外" are JIS X 0208.
  const std::string raw = "Mori^Ogai=\x1b$B?9\x1b(B^\x1b$(Dl?\x1b$B30\x1b(B";
  EXPECT_EQ(decode("ISO 2022 IR 6\\ISO 2022 IR 87\\ISO 2022 IR 159", raw), "Mori^Ogai=森^鷗外");
}

TEST(CharsetDecoder, Korean) {
  // PS3.5 I.2: KS X 1001 in G1, designated again after every delimiter.
  const std::string raw =
      "Hong^Gildong="
      "\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7="
      "\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf";
  EXPECT_EQ(decode("\\ISO 2022 IR 149", raw), "Hong^Gildong=洪^吉洞=홍^길동");
}

TEST(CharsetDecoder, ChineseGb18030) {
  // PS3.5 Annex J.
  EXPECT_EQ(decode("GB18030", "Wang^XiaoDong=\xcd\xf5^\xd0\xa1\xb6\xab="),
            "Wang^XiaoDong=王^小东=");
}

TEST(CharsetDecoder, ChineseGb2312) {
  // PS3.5 Annex K: GB 2312 in G1 through ESC $ ) A.
  const std::string raw = "Zhang^XiaoDong=\x1b$)A\xd5\xc5^\x1b$)A\xd0\xa1\xb6\xab=";
  EXPECT_EQ(decode("ISO 2022 IR 6\\ISO 2022 IR 58", raw), "Zhang^XiaoDong=张^小东=");
}

TEST(CharsetDecoder, Utf8Identity) {
  CharsetDecoder decoder("ISO_IR 192");
  EXPECT_TRUE(decoder.is_identity());
  EXPECT_EQ(decoder.error(), "");
  EXPECT_EQ(decoder.to_utf8("Wang^XiaoDong=王^小東=", true), "Wang^XiaoDong=王^小東=");
}

TEST(CharsetDecoder, AsciiIdentity) {
  for (const char* charset : {"", "ISO_IR 6", "ISO 2022 IR 6", " ", "ISO_IR 192 "}) {
    CharsetDecoder decoder(charset);
    EXPECT_TRUE(decoder.is_identity()) << "'" << charset << "'";
    EXPECT_EQ(decoder.to_utf8("Doe^John", true), "Doe^John");
  }
  EXPECT_FALSE(CharsetDecoder("ISO_IR 100").is_identity());
}

TEST(CharsetDecoder, PaddedCharsetValues) {
  // Even-length padding of the whole value and spaces around single values.
  EXPECT_EQ(decode("ISO_IR 100 ", "J\xe9r\xf4me"), "Jérôme");
  EXPECT_EQ(decode("ISO 2022 IR 6 \\ ISO 2022 IR 87 ", "\x1b$B;3ED\x1b(B"), "山田");
}

TEST(CharsetDecoder, UnknownCharset) {
  CharsetDecoder decoder("ISO_IR 999");
  EXPECT_NE(decoder.error(), "");
  EXPECT_FALSE(decoder.is_identity());
  // ASCII means the same in every DICOM set; anything else cannot be interpreted.
  EXPECT_EQ(decoder.to_utf8("Doe^John", true), "Doe^John");
  EXPECT_EQ(decoder.to_utf8("J\xe9r\xf4me", true), std::nullopt);

  CharsetDecoder unknown_extension("ISO 2022 IR 6\\ISO 2022 IR 87\\ISO 2022 IR 999");
  EXPECT_NE(unknown_extension.error(), "");
}

TEST(CharsetDecoder, SingleValuedIso2022) {
  // DCMTK refuses single-valued ISO 2022 terms; they mean the same as the ISO_IR term.
  EXPECT_EQ(decode("ISO 2022 IR 100", "Buc^J\xe9r\xf4me"), "Buc^Jérôme");
  EXPECT_EQ(decode("ISO 2022 IR 13", "\xd4\xcf\xc0\xde^\xc0\xdb\xb3"), "ﾔﾏﾀﾞ^ﾀﾛｳ");
}

TEST(CharsetDecoder, Iso2022DelimiterRestoresInitialG1) {
  // G1 starts as Latin-1 (value 1), is switched to Cyrillic, and returns to Latin-1 after '\'.
  const std::string charset = "ISO 2022 IR 100\\ISO 2022 IR 144\\ISO 2022 IR 87";
  EXPECT_EQ(decode(charset, "J\xe9r\x1b-L\xbb\xee\\\xe9", false), "JérЛю\\é");
  // For a PN '^' resets too; for other VRs it is an ordinary character.
  EXPECT_EQ(decode(charset, "\x1b-L\xbb^\xbb", true), "Л^»");
  EXPECT_EQ(decode(charset, "\x1b-L\xbb^\xbb", false), "Л^Л");
}

TEST(CharsetDecoder, Iso2022InvalidBytes) {
  CharsetDecoder decoder("ISO 2022 IR 6\\ISO 2022 IR 87");
  ASSERT_EQ(decoder.error(), "");
  EXPECT_EQ(decoder.to_utf8("\x1b$Z;3", true), std::nullopt);    // Unknown escape sequence.
  EXPECT_EQ(decoder.to_utf8("\x1b$B;3E", true), std::nullopt);   // Truncated pair.
  EXPECT_EQ(decoder.to_utf8("Yamada\xe9", true), std::nullopt);  // High byte without a G1 set.
  EXPECT_EQ(decoder.to_utf8("\x1b$B;\x01\x1b(B", true), std::nullopt);  // Control inside a pair.
  // The decoder stays usable after a failure.
  EXPECT_EQ(decoder.to_utf8("\x1b$B;3ED\x1b(B", true), "山田");
}

TEST(CharsetDecoder, DcmtkInvalidBytes) {
  CharsetDecoder decoder("\\ISO 2022 IR 149");
  ASSERT_EQ(decoder.error(), "");
  EXPECT_EQ(decoder.to_utf8("\x1b$)C\xfb", false), std::nullopt);
}

TEST(IsAscii, Basic) {
  EXPECT_TRUE(is_ascii(""));
  EXPECT_TRUE(is_ascii("Doe^John\\=\x1b\x7f"));
  EXPECT_FALSE(is_ascii("Jérôme"));
  EXPECT_FALSE(is_ascii("\x80"));
}

TEST(ConvertDatasetFromUtf8, ToLatin1) {
  DcmDataset dataset;
  ASSERT_TRUE(dataset.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192").good());
  ASSERT_TRUE(dataset.putAndInsertString(DCM_PatientName, "Buc^Jérôme").good());
  // Nested items are converted as well.
  DcmItem* item = nullptr;
  ASSERT_TRUE(dataset.findOrCreateSequenceItem(DCM_ReferencedStudySequence, item, -2).good());
  ASSERT_TRUE(item->putAndInsertString(DCM_StudyDescription, "Tête").good());

  ASSERT_TRUE(convert_dataset_from_utf8(dataset, "ISO_IR 100"));
  EXPECT_EQ(get_string(dataset, DCM_SpecificCharacterSet), "ISO_IR 100");
  EXPECT_EQ(get_string(dataset, DCM_PatientName), "Buc^J\xe9r\xf4me");
  // The converted elements were moved back from a copy: they must now belong to `dataset`.
  DcmElement* name = nullptr;
  ASSERT_TRUE(dataset.findAndGetElement(DCM_PatientName, name).good());
  EXPECT_EQ(name->getParent(), &dataset);
  DcmItem* converted = nullptr;
  ASSERT_TRUE(dataset.findAndGetSequenceItem(DCM_ReferencedStudySequence, converted, 0).good());
  EXPECT_EQ(get_string(*converted, DCM_StudyDescription),
            "T\xea"
            "te");

  // The result decodes back to the original text.
  CharsetDecoder decoder(get_string(dataset, DCM_SpecificCharacterSet));
  EXPECT_EQ(decoder.to_utf8(get_string(dataset, DCM_PatientName), true), "Buc^Jérôme");
}

TEST(ConvertDatasetFromUtf8, ToUtf8OnlySetsCharset) {
  DcmDataset dataset;
  ASSERT_TRUE(dataset.putAndInsertString(DCM_PatientName, "山田^太郎").good());
  ASSERT_TRUE(convert_dataset_from_utf8(dataset, "ISO_IR 192"));
  EXPECT_EQ(get_string(dataset, DCM_SpecificCharacterSet), "ISO_IR 192");
  EXPECT_EQ(get_string(dataset, DCM_PatientName), "山田^太郎");
}

TEST(ConvertDatasetFromUtf8, ToAsciiRemovesCharset) {
  DcmDataset dataset;
  ASSERT_TRUE(dataset.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192").good());
  ASSERT_TRUE(dataset.putAndInsertString(DCM_PatientName, "Doe^John").good());
  ASSERT_TRUE(convert_dataset_from_utf8(dataset, ""));
  EXPECT_FALSE(dataset.tagExists(DCM_SpecificCharacterSet));
  EXPECT_EQ(get_string(dataset, DCM_PatientName), "Doe^John");
}

TEST(ConvertDatasetFromUtf8, ImpossibleLeavesItemUnchanged) {
  DcmDataset dataset;
  ASSERT_TRUE(dataset.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192").good());
  // InstitutionName (0008,0080) is converted before PatientName fails: it must be restored too.
  ASSERT_TRUE(dataset.putAndInsertString(DCM_InstitutionName, "Café").good());
  ASSERT_TRUE(dataset.putAndInsertString(DCM_PatientName, "山田^太郎").good());

  EXPECT_FALSE(convert_dataset_from_utf8(dataset, "ISO_IR 100"));
  EXPECT_EQ(get_string(dataset, DCM_SpecificCharacterSet), "ISO_IR 192");
  EXPECT_EQ(get_string(dataset, DCM_InstitutionName), "Café");
  EXPECT_EQ(get_string(dataset, DCM_PatientName), "山田^太郎");

  // DCMTK cannot encode to ISO 2022 sets at all.
  EXPECT_FALSE(convert_dataset_from_utf8(dataset, "ISO 2022 IR 6\\ISO 2022 IR 87"));
  EXPECT_EQ(get_string(dataset, DCM_SpecificCharacterSet), "ISO_IR 192");
  EXPECT_EQ(get_string(dataset, DCM_PatientName), "山田^太郎");
}

}  // namespace
