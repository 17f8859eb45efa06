#pragma once
// Text in a DICOM dataset is encoded by its Specific Character Set (0008,0005), possibly with
// ISO 2022 escape sequences. The index keeps every value in UTF-8 so that one query finds text from
// any source; this converter is the single place where that decoding happens.
//
// DCMTK (through iconv) converts most sets; it refuses ISO 2022 IR 87 / IR 159 (Japanese JIS X 0208
// and JIS X 0212). For those this converter decodes the ISO 2022 segments itself with iconv's
// EUC-JP tables, so a Japanese dataset is indexed correctly instead of being refused for its name.

#include <memory>
#include <optional>
#include <string>

class DcmItem;

namespace ossa::dicom {

class CharsetDecoder {
 public:
  // `specific_character_set` is the raw value of (0008,0005) as found in the dataset, possibly
  // multi-valued ("ISO 2022 IR 6\ISO 2022 IR 87"); empty means the default repertoire (ASCII).
  explicit CharsetDecoder(const std::string& specific_character_set);
  ~CharsetDecoder();
  CharsetDecoder(const CharsetDecoder&) = delete;
  CharsetDecoder& operator=(const CharsetDecoder&) = delete;

  // Decodes one raw element value (all its values, still joined by '\') into UTF-8.
  // `is_person_name` makes '^' and '=' reset the ISO 2022 state, as PS3.5 6.1.2.5.3 requires for
  // PN. Returns nullopt when the bytes cannot be decoded (the caller keeps the raw bytes and logs).
  std::optional<std::string> to_utf8(const std::string& raw, bool is_person_name) const;

  // True when values need no conversion (ASCII or already UTF-8).
  bool is_identity() const;

  // An explanation when the declared character set is unknown; empty otherwise.
  const std::string& error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Converts every text element of `item` (recursively) from UTF-8 to `target_charset` (a DICOM
// defined term such as "ISO_IR 100" or "ISO 2022 IR 6\ISO 2022 IR 149") and sets (0008,0005) to it.
// Returns false, leaving `item` unchanged, when a value cannot be represented in that set.
bool convert_dataset_from_utf8(DcmItem& item, const std::string& target_charset);

// True when `text` contains only 7-bit ASCII.
bool is_ascii(const std::string& text);

}  // namespace ossa::dicom
