#pragma once
// Character sets of HL7 v2 messages (MSH-18, HL7 table 0211) and their conversion to and from
// UTF-8 with glibc's iconv.
//
// Thread safety: free functions; each conversion opens its own iconv descriptor.

#include <optional>
#include <string>
#include <string_view>

namespace ossa::hl7 {

// The iconv name for an MSH-18 value (first repetition, trimmed): "" / "ASCII" / "ISO IR6" ->
// "ASCII", "8859/1".."8859/9" and "8859/15" -> "ISO-8859-n", "UNICODE UTF-8" -> "UTF-8",
// "ISO IR14" -> JIS X 0201, "ISO IR87" -> "ISO-2022-JP", "ISO IR159" -> "ISO-2022-JP-2",
// "KS X 1001" -> "EUC-KR", "GB 18030-2000" -> "GB18030", "BIG-5" -> "BIG5", "CNS 11643-1992" ->
// "EUC-TW". nullopt for any other value (and for UTF-16/32, which ER7 parsing cannot read).
std::optional<std::string> iconv_charset(std::string_view msh18);

// The DICOM Specific Character Set (0008,0005) that matches an MSH-18 value, "" when none.
std::string dicom_charset(std::string_view msh18);

// Converts `in` from `from` to `to` (iconv names). With `lossy`, characters `to` cannot hold
// become '?' instead of failing. False with a message on an invalid or unconvertible byte.
bool convert(std::string_view in, const std::string& from, const std::string& to, std::string& out,
             std::string& error, bool lossy = false);

}  // namespace ossa::hl7
