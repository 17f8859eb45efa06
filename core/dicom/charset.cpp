// Specific Character Set decoding (to UTF-8) and dataset encoding (from UTF-8).
//
// Most sets go through DCMTK's DcmSpecificCharacterSet. DCMTK on glibc iconv refuses JIS X 0208 and
// JIS X 0212 (ISO 2022 IR 87 / IR 159) and some single-valued ISO 2022 terms, so for such lists the
// ISO 2022 escape sequences are interpreted here and every segment is decoded with glibc iconv's
// EUC / ISO 8859 tables.

#include "dicom/charset.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcelem.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcspchrs.h>

#include <iconv.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

namespace ossa::dicom {
namespace {

constexpr char kEsc = '\x1B';
constexpr const char* kUtf8Term = "ISO_IR 192";

// Values of (0008,0005) are padded to even length with a space, and some writers leave NULs or
// spaces around individual values; DCMTK trims the whole string but not each value.
std::string trim(const std::string& s) {
  const char* const kPad = " \t\r\n";
  std::string::size_type begin = 0;
  std::string::size_type end = s.size();
  while (begin < end && (s[begin] == '\0' || std::strchr(kPad, s[begin]) != nullptr)) ++begin;
  while (end > begin && (s[end - 1] == '\0' || std::strchr(kPad, s[end - 1]) != nullptr)) --end;
  return s.substr(begin, end - begin);
}

// Splits on '\' keeping empty values: an empty value 1 is meaningful ("\ISO 2022 IR 149").
std::vector<std::string> split_values(const std::string& raw) {
  std::vector<std::string> values;
  std::string::size_type start = 0;
  while (true) {
    const std::string::size_type pos = raw.find('\\', start);
    values.push_back(trim(raw.substr(start, pos == std::string::npos ? pos : pos - start)));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return values;
}

std::string join_values(const std::vector<std::string>& values) {
  std::string joined;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) joined += '\\';
    joined += values[i];
  }
  return joined;
}

std::string normalize(const std::string& raw) {
  std::vector<std::string> values = split_values(raw);
  // A trailing run of empty values carries no information ("ISO_IR 100\" or pure padding).
  while (values.size() > 1 && values.back().empty()) values.pop_back();
  return join_values(values);
}

bool is_ascii_term(const std::string& term) {
  return term.empty() || term == "ISO_IR 6" || term == "ISO 2022 IR 6";
}

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    // Only BMP code points are produced here (JIS X 0201 katakana).
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// One iconv conversion descriptor to UTF-8, closed on destruction.
class Iconv {
 public:
  explicit Iconv(const char* from_encoding) : cd_(iconv_open("UTF-8", from_encoding)) {}
  ~Iconv() {
    if (ok()) iconv_close(cd_);
  }
  Iconv(const Iconv&) = delete;
  Iconv& operator=(const Iconv&) = delete;

  bool ok() const { return cd_ != reinterpret_cast<iconv_t>(-1); }

  // Appends the UTF-8 form of `in` to `out`. Fails on any invalid or incomplete sequence: the
  // caller then keeps the raw bytes rather than indexing a partly decoded value.
  bool convert(const std::string& in, std::string& out) {
    iconv(cd_, nullptr, nullptr, nullptr, nullptr);  // Each run starts in the initial state.
    // iconv's interface is not const-correct; it never writes through the input pointer.
    char* in_ptr = const_cast<char*>(in.data());
    std::size_t in_left = in.size();
    char buffer[1024];
    while (in_left > 0) {
      char* out_ptr = buffer;
      std::size_t out_left = sizeof(buffer);
      const std::size_t rc = iconv(cd_, &in_ptr, &in_left, &out_ptr, &out_left);
      out.append(buffer, static_cast<std::size_t>(out_ptr - buffer));
      if (rc == static_cast<std::size_t>(-1) && errno != E2BIG) return false;
    }
    return true;
  }

 private:
  iconv_t cd_;
};

// A graphic character set that an ISO 2022 escape sequence can designate (PS3.3 C.12.1.1.2).
struct GraphicSet {
  enum class Kind {
    kAscii,       // G0: ISO-IR 6, or JIS X 0201 Romaji which DICOM treats as ASCII.
    kKatakana,    // G1: JIS X 0201 katakana, mapped arithmetically to U+FF61..U+FF9F.
    kSingleByte,  // G1: high half of an ISO 8859 / TIS-620 table, one byte per character.
    kDoubleByte,  // G0 (7-bit pairs) or G1 (8-bit pairs), decoded through the set's EUC form.
  };
  Kind kind;
  const char* iconv_name;  // For kSingleByte and kDoubleByte.
  const char* euc_prefix;  // Single shift that EUC puts before the pair (JIS X 0212: SS3).
};

// An escape sequence (without the ESC), the register it loads and the defined term that makes the
// set the initial one when it is value 1 of (0008,0005).
struct Designation {
  const char* escape;
  bool g1;
  GraphicSet set;
  const char* term;
};

using Kind = GraphicSet::Kind;

// PS3.3 Tables C.12-3 and C.12-4.
const Designation kDesignations[] = {
    {"(B", false, {Kind::kAscii, nullptr, ""}, "ISO 2022 IR 6"},
    {"(J", false, {Kind::kAscii, nullptr, ""}, "ISO 2022 IR 13"},
    {")I", true, {Kind::kKatakana, nullptr, ""}, "ISO 2022 IR 13"},
    {"-A", true, {Kind::kSingleByte, "ISO-8859-1", ""}, "ISO 2022 IR 100"},
    {"-B", true, {Kind::kSingleByte, "ISO-8859-2", ""}, "ISO 2022 IR 101"},
    {"-C", true, {Kind::kSingleByte, "ISO-8859-3", ""}, "ISO 2022 IR 109"},
    {"-D", true, {Kind::kSingleByte, "ISO-8859-4", ""}, "ISO 2022 IR 110"},
    {"-L", true, {Kind::kSingleByte, "ISO-8859-5", ""}, "ISO 2022 IR 144"},
    {"-G", true, {Kind::kSingleByte, "ISO-8859-6", ""}, "ISO 2022 IR 127"},
    {"-F", true, {Kind::kSingleByte, "ISO-8859-7", ""}, "ISO 2022 IR 126"},
    {"-H", true, {Kind::kSingleByte, "ISO-8859-8", ""}, "ISO 2022 IR 138"},
    {"-M", true, {Kind::kSingleByte, "ISO-8859-9", ""}, "ISO 2022 IR 148"},
    {"-T", true, {Kind::kSingleByte, "TIS-620", ""}, "ISO 2022 IR 166"},
    {"-b", true, {Kind::kSingleByte, "ISO-8859-15", ""}, "ISO 2022 IR 203"},
    {"$B", false, {Kind::kDoubleByte, "EUC-JP", ""}, "ISO 2022 IR 87"},
    {"$(D", false, {Kind::kDoubleByte, "EUC-JP", "\x8F"}, "ISO 2022 IR 159"},
    {"$)C", true, {Kind::kDoubleByte, "EUC-KR", ""}, "ISO 2022 IR 149"},
    {"$)A", true, {Kind::kDoubleByte, "EUC-CN", ""}, "ISO 2022 IR 58"},
};

const GraphicSet kAsciiSet = {Kind::kAscii, nullptr, ""};

// Sets that DCMTK (built on glibc iconv) refuses with an error log per attempt; lists containing
// them go straight to the own decoder.
bool dcmtk_refuses(const std::string& term) {
  return term == "ISO 2022 IR 87" || term == "ISO 2022 IR 159";
}

// "ISO_IR 100\ISO 2022 IR 87" is not valid DICOM but is written by some modalities; the ISO_IR
// term names the same set as its ISO 2022 twin.
std::string as_iso2022_term(const std::string& term) {
  if (term.empty()) return "ISO 2022 IR 6";
  if (term.rfind("ISO_IR ", 0) == 0) return "ISO 2022 IR " + term.substr(7);
  return term;
}

bool is_iso2022_term(const std::string& term) {
  for (const Designation& d : kDesignations) {
    if (as_iso2022_term(term) == d.term) return true;
  }
  return false;
}

bool is_delimiter(char c, bool is_person_name) {
  return c == '\\' || (is_person_name && (c == '^' || c == '='));
}

bool is_control_delimiter(char c) {
  return c == '\r' || c == '\n' || c == '\f' || c == '\t';
}

}  // namespace

struct CharsetDecoder::Impl {
  enum class Mode { kIdentity, kDcmtk, kIso2022, kUnknown };

  struct State {
    const GraphicSet* g0 = &kAsciiSet;
    const GraphicSet* g1 = nullptr;
  };

  Mode mode = Mode::kUnknown;
  std::string error;
  // DCMTK's converter keeps iconv state and its convertString() is non-const; a decoder instance is
  // only used by one thread at a time, so the const to_utf8() may use it.
  mutable DcmSpecificCharacterSet dcmtk;
  // The state that value 1 of (0008,0005) establishes and every delimiter restores.
  State initial;
  // Opened on first use: a Korean dataset never needs the EUC-JP tables.
  mutable std::map<std::string, std::unique_ptr<Iconv>> converters;

  Iconv* converter(const char* iconv_name) const {
    std::unique_ptr<Iconv>& slot = converters[iconv_name];
    if (!slot) slot = std::make_unique<Iconv>(iconv_name);
    return slot->ok() ? slot.get() : nullptr;
  }

  // Sets up the own ISO 2022 decoder; false (with `error` set) if a term is unknown.
  bool init_iso2022(const std::vector<std::string>& values) {
    for (const std::string& value : values) {
      if (!is_iso2022_term(value)) {
        error = "Specific Character Set term '" + value + "' is not supported";
        return false;
      }
    }
    const std::string first = as_iso2022_term(values.front());
    for (const Designation& d : kDesignations) {
      if (first != d.term) continue;
      (d.g1 ? initial.g1 : initial.g0) = &d.set;
    }
    mode = Mode::kIso2022;
    return true;
  }

  std::optional<std::string> decode_iso2022(const std::string& raw, bool is_person_name) const;
};

std::optional<std::string> CharsetDecoder::Impl::decode_iso2022(const std::string& raw,
                                                                bool is_person_name) const {
  std::string out;
  State state = initial;
  // Consecutive bytes of one iconv-decoded set are converted together: one iconv call per run
  // instead of one per character.
  const GraphicSet* run_set = nullptr;
  std::string run;
  auto flush = [&]() -> bool {
    if (run.empty()) return true;
    Iconv* cv = converter(run_set->iconv_name);
    const bool ok = cv != nullptr && cv->convert(run, out);
    run.clear();
    return ok;
  };
  auto append_run = [&](const GraphicSet* set, std::string bytes) -> bool {
    if (set != run_set && !flush()) return false;
    run_set = set;
    run += bytes;
    return true;
  };

  const std::size_t n = raw.size();
  std::size_t i = 0;
  while (i < n) {
    const char c = raw[i];
    const auto b = static_cast<unsigned char>(c);
    if (c == kEsc) {
      const Designation* found = nullptr;
      for (const Designation& d : kDesignations) {
        if (raw.compare(i + 1, std::strlen(d.escape), d.escape) == 0) {
          found = &d;
          break;
        }
      }
      if (found == nullptr) return std::nullopt;
      (found->g1 ? state.g1 : state.g0) = &found->set;
      i += 1 + std::strlen(found->escape);
      continue;
    }
    if (b < 0x20 || b == 0x7F) {
      // Controls are never part of a graphic set; CR, LF, FF and TAB end the escape scope.
      if (!flush()) return std::nullopt;
      out += c;
      if (is_control_delimiter(c)) state = initial;
      ++i;
      continue;
    }
    if (b < 0x80) {
      if (state.g0->kind == Kind::kDoubleByte) {
        // '\', '^' and '=' are ordinary bytes of a JIS pair here (e.g. 0x25 0x3D is katakana SO);
        // PS3.5 6.1.2.5.3 requires the writer to switch back to ASCII before a delimiter.
        if (b == 0x20) {
          if (!flush()) return std::nullopt;
          out += ' ';
          ++i;
          continue;
        }
        if (i + 1 >= n) return std::nullopt;
        const auto b2 = static_cast<unsigned char>(raw[i + 1]);
        if (b2 < 0x21 || b2 > 0x7E) return std::nullopt;
        std::string euc = state.g0->euc_prefix;
        euc += static_cast<char>(b | 0x80);
        euc += static_cast<char>(b2 | 0x80);
        if (!append_run(state.g0, std::move(euc))) return std::nullopt;
        i += 2;
        continue;
      }
      if (!flush()) return std::nullopt;
      out += c;
      if (is_delimiter(c, is_person_name)) state = initial;
      ++i;
      continue;
    }
    // High byte: the G1 set, invoked into GR.
    if (state.g1 == nullptr) return std::nullopt;
    switch (state.g1->kind) {
      case Kind::kKatakana:
        if (b < 0xA1 || b > 0xDF) return std::nullopt;
        if (!flush()) return std::nullopt;
        append_utf8(0xFF61 + (b - 0xA1), out);
        ++i;
        break;
      case Kind::kSingleByte:
        if (!append_run(state.g1, std::string(1, c))) return std::nullopt;
        ++i;
        break;
      case Kind::kDoubleByte: {
        if (i + 1 >= n) return std::nullopt;
        const auto b2 = static_cast<unsigned char>(raw[i + 1]);
        if (b < 0xA1 || b > 0xFE || b2 < 0xA1 || b2 > 0xFE) return std::nullopt;
        if (!append_run(state.g1, raw.substr(i, 2))) return std::nullopt;
        i += 2;
        break;
      }
      case Kind::kAscii:
        return std::nullopt;
    }
  }
  if (!flush()) return std::nullopt;
  return out;
}

CharsetDecoder::CharsetDecoder(const std::string& specific_character_set)
    : impl_(std::make_unique<Impl>()) {
  const std::string normalized = normalize(specific_character_set);
  const std::vector<std::string> values = split_values(normalized);
  if (values.size() == 1 && (is_ascii_term(values[0]) || values[0] == kUtf8Term)) {
    // Nothing to convert; also avoids DCMTK's warning that "ISO_IR 6" is not a defined term.
    impl_->mode = Impl::Mode::kIdentity;
    return;
  }

  bool try_dcmtk = true;
  bool has_iso2022 = false;
  for (const std::string& value : values) {
    if (dcmtk_refuses(value)) try_dcmtk = false;
    if (value.rfind("ISO 2022 ", 0) == 0) has_iso2022 = true;
  }
  if (try_dcmtk) {
    const OFCondition status = impl_->dcmtk.selectCharacterSet(normalized.c_str(), kUtf8Term);
    if (status.good()) {
      impl_->mode = Impl::Mode::kDcmtk;
      return;
    }
    impl_->error = status.text();
  }
  if (has_iso2022 && impl_->init_iso2022(values)) {
    impl_->error.clear();
    return;
  }
  if (impl_->error.empty()) {
    impl_->error = "Specific Character Set '" + normalized + "' is not supported";
  }
  impl_->mode = Impl::Mode::kUnknown;
}

CharsetDecoder::~CharsetDecoder() = default;

std::optional<std::string> CharsetDecoder::to_utf8(const std::string& raw,
                                                   bool is_person_name) const {
  switch (impl_->mode) {
    case Impl::Mode::kIdentity:
      return raw;
    case Impl::Mode::kDcmtk: {
      OFString converted;
      const OFString delimiters = is_person_name ? "\\^=" : "\\";
      const OFCondition status =
          impl_->dcmtk.convertString(raw.data(), raw.size(), converted, delimiters);
      if (status.bad()) return std::nullopt;
      return std::string(converted.c_str(), converted.length());
    }
    case Impl::Mode::kIso2022:
      return impl_->decode_iso2022(raw, is_person_name);
    case Impl::Mode::kUnknown:
      // Every DICOM character set keeps ASCII in G0, so plain ASCII text is still readable even
      // under a misspelled or unsupported declaration.
      if (is_ascii(raw)) return raw;
      return std::nullopt;
  }
  return std::nullopt;
}

bool CharsetDecoder::is_identity() const {
  return impl_->mode == Impl::Mode::kIdentity;
}

const std::string& CharsetDecoder::error() const {
  return impl_->error;
}

bool convert_dataset_from_utf8(DcmItem& item, const std::string& target_charset) {
  const std::string target = normalize(target_charset);
  if (target == kUtf8Term) {
    return item.putAndInsertString(DCM_SpecificCharacterSet, kUtf8Term).good();
  }
  // The default repertoire has no defined term: (0008,0005) is absent rather than "ISO_IR 6".
  const bool to_ascii = is_ascii_term(target);
  const OFString dcmtk_target = to_ascii ? "" : target.c_str();

  // DCMTK converts element by element and stops at the first failure, leaving earlier elements
  // converted; working on a copy keeps `item` intact when any value cannot be represented.
  std::unique_ptr<DcmObject> clone(item.clone());
  auto* copy = dynamic_cast<DcmItem*>(clone.get());
  if (copy == nullptr) return false;
  if (copy->convertCharacterSet(kUtf8Term, dcmtk_target, 0, OFTrue).bad()) return false;
  // DCMTK skips an empty item entirely, including the (0008,0005) update.
  if (to_ascii) {
    delete copy->remove(DCM_SpecificCharacterSet);
  } else if (copy->putAndInsertString(DCM_SpecificCharacterSet, dcmtk_target.c_str()).bad()) {
    return false;
  }

  // Move the converted elements back instead of copying them again (pixel data can be large).
  // DcmItem::clear is called non-virtually so that a DcmDataset keeps its transfer syntax state.
  item.DcmItem::clear();
  while (copy->card() > 0) {
    DcmElement* element = copy->remove(0UL);
    if (element == nullptr) break;
    if (item.insert(element, OFTrue).bad()) {
      delete element;
      return false;
    }
  }
  return true;
}

bool is_ascii(const std::string& text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

}  // namespace ossa::dicom
