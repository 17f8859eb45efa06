#pragma once
// HL7 v2 ER7 ("pipe and hat") messages: delimiters from MSH-1/MSH-2, segments, fields,
// repetitions, components, subcomponents and escape sequences (HL7 v2.3-2.5.1 chapter 2).
//
// Parsing is byte-wise and never fails on content: a message is a list of segments, each a list of
// raw (still escaped) fields. Values are unescaped only when read (value(), repetition ...), with
// the message's own delimiters. Segments end with CR; LF and CR LF are tolerated, empty lines
// skipped. Only the header (MSH, its delimiters) can make parsing fail.
//
// Numbering follows HL7: field 1 of MSH is the field separator itself, field 2 the encoding
// characters; for other segments field n is the n-th after the segment name. Repetitions count
// from 0, components and subcomponents from 1.
//
// Thread safety: a parsed Message is immutable; concurrent reads are fine.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ossa::hl7 {

// The five delimiters. A character the message does not use (MSH-2 shorter than four characters)
// is '\0'.
struct Delimiters {
  char field = '|';
  char component = '^';
  char repetition = '~';
  char escape = '\\';
  char subcomponent = '&';

  // MSH-2 as it is written in a message using these delimiters.
  [[nodiscard]] std::string encoding_characters() const;
};

struct Segment {
  std::string name;                 // "MSH", "PID", ...
  std::vector<std::string> fields;  // raw fields; [0] is the name (for MSH: [1] = MSH-1 ...)

  // Raw field n (HL7 numbering), "" when absent.
  [[nodiscard]] const std::string& field(size_t n) const;
};

// Converts bytes of the message's character set (from \X..\ escapes) to UTF-8. Returns false
// when they cannot be converted.
using HexDecoder = std::function<bool(const std::string& bytes, std::string& utf8)>;

class Message {
 public:
  // Splits `text` into segments. Fails (nullopt, `error` says why) when it does not start with
  // an MSH segment whose MSH-1/MSH-2 give usable delimiters.
  static std::optional<Message> parse(std::string_view text, std::string& error);

  [[nodiscard]] const Delimiters& delimiters() const { return delimiters_; }
  [[nodiscard]] const std::vector<Segment>& segments() const { return segments_; }
  [[nodiscard]] const Segment& header() const { return segments_.front(); }

  // The first segment named `name`, or nullptr.
  [[nodiscard]] const Segment* first(std::string_view name) const;

  // Splitting raw text (no unescaping).
  [[nodiscard]] std::vector<std::string> repetitions(const std::string& raw_field) const;
  // Component `component` (1-based) of a raw repetition, and its subcomponent (1-based); raw.
  [[nodiscard]] std::string component(const std::string& raw_repetition, size_t component,
                                      size_t subcomponent = 0) const;

  // The unescaped value of a segment's field n, repetition `rep`, component `comp` (0 = the
  // whole repetition), subcomponent `sub` (0 = the whole component).
  [[nodiscard]] std::string value(const Segment& segment, size_t field, size_t rep = 0,
                                  size_t comp = 0, size_t sub = 0) const;
  // Unescaped value of one component of a raw repetition.
  [[nodiscard]] std::string value_of(const std::string& raw_repetition, size_t comp,
                                     size_t sub = 0) const;

  // Replaces escape sequences (\F\ \S\ \T\ \R\ \E\ \Xhh..\ \.br\ ...) by what they stand for.
  [[nodiscard]] std::string unescape(std::string_view raw) const;

  // How \Xhh..\ bytes become UTF-8 (default: kept when valid UTF-8, else dropped).
  void set_hex_decoder(HexDecoder decoder) { hex_decoder_ = std::move(decoder); }

 private:
  Delimiters delimiters_;
  std::vector<Segment> segments_;
  HexDecoder hex_decoder_;
};

// Unescapes `raw` written with `delimiters` (see Message::unescape). Escape sequences that do not
// stand for text (\H\ \N\ \Z..\ \C..\ \M..\ and formatting other than .br/.sp) are removed;
// \.br\ and \.sp\ become CR LF; an unterminated escape is kept as written.
std::string unescape(std::string_view raw, const Delimiters& delimiters,
                     const HexDecoder& hex_decoder = nullptr);

// Escapes text for a field written with `delimiters`: the delimiters and the escape character
// become \F\ \S\ \R\ \E\ \T\; line breaks become \.br\.
std::string escape(std::string_view text, const Delimiters& delimiters);

// Splits on `separator` ('\0' = never splits). Always at least one element.
std::vector<std::string> split(std::string_view text, char separator);

// True when `text` is well-formed UTF-8.
bool is_valid_utf8(std::string_view text);

}  // namespace ossa::hl7
