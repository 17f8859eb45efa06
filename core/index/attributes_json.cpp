#include "index/attributes_json.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdio>

namespace ossa::index {
namespace {

std::string tag_key(uint32_t tag) {
  char text[9];
  std::snprintf(text, sizeof text, "%08X", tag);
  return text;
}

// Streamed (SAX): a C-FIND reads two or more of these per match, and building a JSON tree first
// cost more than the rest of reading the match.
class AttributeReader : public nlohmann::json::json_sax_t {
 public:
  explicit AttributeReader(Attributes& into) : into_(into) {}

  bool key(string_t& key) override {
    tag_ = 0;
    const auto [end, error] = std::from_chars(key.data(), key.data() + key.size(), tag_, 16);
    has_tag_ = depth_ == 1 && error == std::errc() && end == key.data() + key.size();
    return true;
  }
  bool string(string_t& value) override {
    if (has_tag_ && depth_ == 1) into_[tag_] = std::move(value);
    has_tag_ = false;
    return true;
  }
  bool start_object(std::size_t) override { return enter(); }
  bool end_object() override { return leave(); }
  bool start_array(std::size_t) override { return enter(); }
  bool end_array() override { return leave(); }
  bool null() override { return skip(); }
  bool boolean(bool) override { return skip(); }
  bool number_integer(number_integer_t) override { return skip(); }
  bool number_unsigned(number_unsigned_t) override { return skip(); }
  bool number_float(number_float_t, const string_t&) override { return skip(); }
  bool binary(binary_t&) override { return skip(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  bool enter() {
    ++depth_;
    has_tag_ = false;
    return true;
  }
  bool leave() {
    --depth_;
    return true;
  }
  bool skip() {
    has_tag_ = false;
    return true;
  }

  Attributes& into_;
  int depth_ = 0;
  uint32_t tag_ = 0;
  bool has_tag_ = false;
};

}  // namespace

bool read_written_shape(std::string_view text, Attributes& into) {
  const char* p = text.data();
  const char* const end = p + text.size();
  if (p == end || *p++ != '{') return false;
  if (p != end && *p == '}') return p + 1 == end;
  std::string value;
  while (true) {
    // "GGGGEEEE":
    if (end - p < 11 || p[0] != '"' || p[9] != '"' || p[10] != ':') return false;
    uint32_t tag = 0;
    if (std::from_chars(p + 1, p + 9, tag, 16).ptr != p + 9) return false;
    p += 11;
    // "value"
    if (p == end || *p++ != '"') return false;
    value.clear();
    while (true) {
      const char* run = p;
      while (p != end && *p != '"' && *p != '\\') ++p;
      value.append(run, static_cast<size_t>(p - run));
      if (p == end) return false;
      if (*p == '"') break;
      if (end - p < 2) return false;
      switch (p[1]) {
        case '"':
          value += '"';
          break;
        case '\\':
          value += '\\';
          break;
        case '/':
          value += '/';
          break;
        case 'b':
          value += '\b';
          break;
        case 'f':
          value += '\f';
          break;
        case 'n':
          value += '\n';
          break;
        case 'r':
          value += '\r';
          break;
        case 't':
          value += '\t';
          break;
        case 'u': {
          // Only \u00XX below 0x80 (a control character) is a single byte; the rest (other
          // writers' escaping of non-ASCII, surrogate pairs) is the general parser's.
          unsigned code = 0;
          if (end - p < 6 || std::from_chars(p + 2, p + 6, code, 16).ptr != p + 6 || code >= 0x80)
            return false;
          value += static_cast<char>(code);
          p += 4;
          break;
        }
        default:
          return false;
      }
      p += 2;
    }
    ++p;  // the closing quote
    into[tag] = value;
    if (p == end) return false;
    if (*p == '}') return p + 1 == end;
    if (*p++ != ',') return false;
  }
}

std::string attributes_to_json(const Attributes& attributes) {
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [tag, value] : attributes) object[tag_key(tag)] = value;
  // Replace, not throw, on invalid UTF-8: a value whose charset could not be decoded is still kept.
  return object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void merge_attributes_json(std::string_view text, Attributes& into) {
  if (text.empty()) return;                    // NULL column
  if (read_written_shape(text, into)) return;  // the usual case
  AttributeReader reader(into);
  nlohmann::json::sax_parse(text.begin(), text.end(), &reader, nlohmann::json::input_format_t::json,
                            /*strict=*/true);
}

}  // namespace ossa::index
