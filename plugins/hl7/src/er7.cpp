#include "er7.h"

#include <cctype>
#include <cstdint>

namespace ossa::hl7 {
namespace {

bool usable_delimiter(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && !std::isalnum(u);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode_hex(std::string_view hex, std::string& bytes) {
  if (hex.empty() || hex.size() % 2 != 0) return false;
  bytes.clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

// Splits the text into lines at CR, LF or CR LF, skipping empty lines.
std::vector<std::string_view> lines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '\r' || text[i] == '\n') {
      if (i > start) out.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

}  // namespace

std::string Delimiters::encoding_characters() const {
  std::string out;
  for (char c : {component, repetition, escape, subcomponent}) {
    if (c == '\0') break;
    out.push_back(c);
  }
  return out;
}

const std::string& Segment::field(size_t n) const {
  static const std::string empty;
  return n < fields.size() ? fields[n] : empty;
}

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> out;
  if (separator == '\0') {
    out.emplace_back(text);
    return out;
  }
  size_t start = 0;
  while (true) {
    const size_t at = text.find(separator, start);
    if (at == std::string_view::npos) {
      out.emplace_back(text.substr(start));
      return out;
    }
    out.emplace_back(text.substr(start, at - start));
    start = at + 1;
  }
}

bool is_valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t extra = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1;
      code = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      code = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      code = (code << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and values beyond U+10FFFF are not UTF-8.
    if ((extra == 1 && code < 0x80) || (extra == 2 && code < 0x800) ||
        (extra == 3 && code < 0x10000) || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
      return false;
    i += extra + 1;
  }
  return true;
}

std::string unescape(std::string_view raw, const Delimiters& d, const HexDecoder& hex_decoder) {
  if (d.escape == '\0' || raw.find(d.escape) == std::string_view::npos) return std::string(raw);
  std::string out;
  out.reserve(raw.size());
  size_t i = 0;
  while (i < raw.size()) {
    const char c = raw[i];
    if (c != d.escape) {
      out.push_back(c);
      ++i;
      continue;
    }
    const size_t end = raw.find(d.escape, i + 1);
    if (end == std::string_view::npos || end == i + 1) {
      // Unterminated or empty: not an escape sequence; keep it as written.
      out.push_back(c);
      ++i;
      continue;
    }
    const std::string_view seq = raw.substr(i + 1, end - i - 1);
    bool known = true;
    if (seq == "F") {
      out.push_back(d.field);
    } else if (seq == "S") {
      out.push_back(d.component);
    } else if (seq == "T") {
      out.push_back(d.subcomponent);
    } else if (seq == "R") {
      out.push_back(d.repetition);
    } else if (seq == "E") {
      out.push_back(d.escape);
    } else if (seq[0] == 'X') {
      std::string bytes, text;
      if (!decode_hex(seq.substr(1), bytes)) {
        known = false;
      } else if (hex_decoder) {
        if (hex_decoder(bytes, text)) out += text;
      } else if (is_valid_utf8(bytes)) {
        out += bytes;
      }
    } else if (seq == ".br" || seq.substr(0, 3) == ".sp") {
      out += "\r\n";
    } else if (seq[0] == '.' || seq == "H" || seq == "N" || seq[0] == 'Z' || seq[0] == 'C' ||
               seq[0] == 'M') {
      // Formatting, highlighting, locally defined and character set switches: no text.
    } else {
      known = false;
    }
    if (!known) {
      out.append(raw.substr(i, end - i + 1));
    }
    i = end + 1;
  }
  return out;
}

std::string escape(std::string_view text, const Delimiters& d) {
  std::string out;
  out.reserve(text.size());
  const auto put = [&](char code) {
    out.push_back(d.escape);
    out.push_back(code);
    out.push_back(d.escape);
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (d.escape != '\0') {
        out.push_back(d.escape);
        out += ".br";
        out.push_back(d.escape);
      } else {
        out.push_back(' ');
      }
    } else if (d.escape == '\0') {
      // Without an escape character, delimiters in text cannot be written: use a space.
      const bool delimiter =
          c == d.field || c == d.component || c == d.repetition || c == d.subcomponent;
      out.push_back(delimiter ? ' ' : c);
    } else if (c == d.escape) {
      put('E');
    } else if (c == d.field) {
      put('F');
    } else if (c == d.component) {
      put('S');
    } else if (c == d.repetition) {
      put('R');
    } else if (c == d.subcomponent) {
      put('T');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<Message> Message::parse(std::string_view text, std::string& error) {
  // Leading white space (a sender's stray LF before the header) is tolerated.
  while (!text.empty() && (text.front() == '\r' || text.front() == '\n' || text.front() == ' ' ||
                           text.front() == '\t'))
    text.remove_prefix(1);
  if (text.substr(0, 3) != "MSH") {
    error = "the message does not start with an MSH segment";
    return std::nullopt;
  }
  if (text.size() < 8) {
    error = "the MSH segment is too short to hold its delimiters";
    return std::nullopt;
  }
  Delimiters d;
  d.field = text[3];
  if (!usable_delimiter(d.field)) {
    error = "MSH-1 (field separator) is not a usable delimiter";
    return std::nullopt;
  }
  size_t enc_end = text.find(d.field, 4);
  const size_t line_end = text.find_first_of("\r\n", 4);
  if (enc_end == std::string_view::npos ||
      (line_end != std::string_view::npos && line_end < enc_end))
    enc_end = line_end == std::string_view::npos ? text.size() : line_end;
  const std::string_view enc = text.substr(4, enc_end - 4);
  if (enc.empty() || enc.size() > 5) {
    error = "MSH-2 (encoding characters) must hold 1 to 4 characters";
    return std::nullopt;
  }
  char* slots[] = {&d.component, &d.repetition, &d.escape, &d.subcomponent};
  for (char* s : slots) *s = '\0';
  std::string seen(1, d.field);
  for (size_t k = 0; k < enc.size() && k < 4; ++k) {
    if (!usable_delimiter(enc[k]) || seen.find(enc[k]) != std::string::npos) {
      error = "MSH-2 (encoding characters) holds a repeated or unusable character";
      return std::nullopt;
    }
    seen.push_back(enc[k]);
    *slots[k] = enc[k];
  }

  Message m;
  m.delimiters_ = d;
  for (std::string_view line : lines(text)) {
    Segment s;
    std::vector<std::string> parts = split(line, d.field);
    s.name = parts[0];
    if (m.segments_.empty()) {
      // MSH: field 1 is the separator itself, so the split parts shift by one.
      s.fields.reserve(parts.size() + 1);
      s.fields.push_back(parts[0]);
      s.fields.emplace_back(1, d.field);
      for (size_t k = 1; k < parts.size(); ++k) s.fields.push_back(std::move(parts[k]));
    } else {
      s.fields = std::move(parts);
    }
    m.segments_.push_back(std::move(s));
  }
  return m;
}

const Segment* Message::first(std::string_view name) const {
  for (const auto& s : segments_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::vector<std::string> Message::repetitions(const std::string& raw_field) const {
  if (raw_field.empty()) return {};
  return split(raw_field, delimiters_.repetition);
}

std::string Message::component(const std::string& raw_repetition, size_t comp, size_t sub) const {
  if (comp == 0) return raw_repetition;
  const auto comps = split(raw_repetition, delimiters_.component);
  if (comp > comps.size()) return {};
  const std::string& c = comps[comp - 1];
  if (sub == 0) return c;
  const auto subs = split(c, delimiters_.subcomponent);
  return sub <= subs.size() ? subs[sub - 1] : std::string();
}

std::string Message::value_of(const std::string& raw_repetition, size_t comp, size_t sub) const {
  return unescape(component(raw_repetition, comp, sub));
}

std::string Message::value(const Segment& segment, size_t field, size_t rep, size_t comp,
                           size_t sub) const {
  const std::string& raw = segment.field(field);
  if (segment.name == "MSH" && field <= 2) return raw;  // delimiters are not escaped
  const auto reps = repetitions(raw);
  if (rep >= reps.size()) return {};
  return value_of(reps[rep], comp, sub);
}

std::string Message::unescape(std::string_view raw) const {
  return hl7::unescape(raw, delimiters_, hex_decoder_);
}

}  // namespace ossa::hl7
