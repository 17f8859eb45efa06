#include "index/matching.h"

#include "util/utf8.h"

#include <clocale>
#include <cwctype>
#include <locale.h>

namespace ossa::index {
namespace {

bool has_wildcard(const std::string& v) {
  return v.find_first_of("*?") != std::string::npos;
}

std::vector<std::string> split(const std::string& text, char delimiter) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(delimiter, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return parts;
}

std::string digits_only(const std::string& value, const std::string& allowed_separators) {
  std::string out;
  for (char c : value) {
    if (c >= '0' && c <= '9')
      out += c;
    else if (allowed_separators.find(c) == std::string::npos)
      return {};
  }
  return out;
}

// Pads `given` (digits, optional '.' fraction) to the length of `template_low/high`.
std::string pad_to(const std::string& given, const std::string& low, const std::string& high,
                   bool upper) {
  const std::string& fill = upper ? high : low;
  if (given.size() > fill.size()) return given.substr(0, fill.size());
  return given + fill.substr(given.size());
}

std::string normalize_clock(const std::string& value, bool upper) {
  // TM: HH[MM[SS[.F{1,6}]]]; legacy HH:MM:SS accepted.
  std::string v;
  for (char c : trim(value))
    if (c != ':') v += c;
  const size_t dot = v.find('.');
  std::string whole = dot == std::string::npos ? v : v.substr(0, dot);
  std::string frac = dot == std::string::npos ? "" : v.substr(dot + 1);
  if (whole.empty() || whole.size() > 6 || whole.size() % 2 != 0) return {};
  if (digits_only(whole, "").size() != whole.size() || digits_only(frac, "").size() != frac.size())
    return {};
  if (frac.size() > 6) frac = frac.substr(0, 6);
  std::string joined = whole;
  if (whole.size() == 6 && dot != std::string::npos) joined += "." + frac;
  return pad_to(joined, "000000.000000", "235959.999999", upper);
}

using util::append_utf8;
using util::next_code_point;

std::vector<char32_t> code_points(const std::string& text) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < text.size();) out.push_back(next_code_point(text, i));
  return out;
}

// A process-wide UTF-8 locale for towupper_l, independent of the global locale.
locale_t utf8_locale() {
  static locale_t loc = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
    if (!l) l = newlocale(LC_CTYPE_MASK, "en_US.UTF-8", static_cast<locale_t>(0));
    return l;
  }();
  return loc;
}

bool match_one_text(const Condition& c, const std::string& stored_value) {
  const std::string v = trim(stored_value);
  if (c.match == MatchKind::kWildcard) return wildcard_match(c.value, v);
  if (c.match == MatchKind::kUidList) {
    for (const auto& one : c.uids)
      if (v == one) return true;
    return false;
  }
  return v == c.value;
}

bool match_one_person_name(const Condition& c, const std::string& stored_value) {
  const std::string v = uppercase_utf8(trim(stored_value));
  auto one = [&](const std::string& candidate) {
    std::string s = candidate;
    while (!s.empty() && (s.back() == '^' || s.back() == ' ')) s.pop_back();  // empty components
    return c.match == MatchKind::kWildcard ? wildcard_match(c.value, s) : s == c.value;
  };
  if (one(v)) return true;
  // Without '=' in the key, each component group (alphabetic, ideographic, phonetic) may match.
  if (c.value.find('=') == std::string::npos && v.find('=') != std::string::npos) {
    for (const auto& group : split(v, '='))
      if (!group.empty() && one(group)) return true;
  }
  return false;
}

bool match_one_ranged(const Condition& c, const std::string& stored_value) {
  std::string v;
  switch (c.kind) {
    case ValueKind::kDate:
      v = normalize_date(stored_value);
      break;
    case ValueKind::kTime:
      v = normalize_time(stored_value);
      break;
    default:
      v = normalize_datetime(stored_value);
      break;
  }
  if (v.empty()) return false;
  if (!c.lower.empty() && v < c.lower) return false;
  if (!c.upper.empty() && v > c.upper) return false;
  return true;
}

bool match_one_other(const Condition& c, const std::string& stored_value) {
  const std::string v = trim(stored_value);
  if (v == c.value) return true;
  // Numbers match by value: IS "007" == "7", DS "1.50" == "1.5".
  try {
    size_t a = 0, b = 0;
    const double x = std::stod(v, &a);
    const double y = std::stod(c.value, &b);
    return a == v.size() && b == c.value.size() && x == y;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

std::string trim(const std::string& text) {
  const size_t first = text.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  const size_t last = text.find_last_not_of(" \0", std::string::npos, 2);
  return text.substr(first, last - first + 1);
}

std::string normalize_date(const std::string& value) {
  const std::string d = digits_only(trim(value), ".");
  return d.size() == 8 ? d : std::string();
}

std::string normalize_time(const std::string& value, bool upper) {
  return normalize_clock(value, upper);
}

std::string normalize_datetime(const std::string& value, bool upper) {
  std::string v = trim(value);
  const size_t offset = v.find_first_of("+-", 1);
  if (offset != std::string::npos) v = v.substr(0, offset);  // UTC offset is not matched
  const size_t dot = v.find('.');
  const std::string whole = dot == std::string::npos ? v : v.substr(0, dot);
  if (whole.size() < 4 || whole.size() > 14 || whole.size() % 2 != 0) return {};
  for (char ch : v)
    if (!(ch >= '0' && ch <= '9') && ch != '.') return {};
  std::string joined = v;
  if (dot != std::string::npos && whole.size() != 14) joined = whole;
  if (joined.size() > 21) joined = joined.substr(0, 21);
  return pad_to(joined, "00000101000000.000000", "99991231235959.999999", upper);
}

std::string uppercase_utf8(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  locale_t loc = utf8_locale();
  for (size_t i = 0; i < text.size();) {
    const char32_t cp = next_code_point(text, i);
    if (cp < 0x80) {
      out += static_cast<char>(cp >= 'a' && cp <= 'z' ? cp - 32 : cp);
    } else {
      append_utf8(out, loc ? static_cast<char32_t>(towupper_l(static_cast<wint_t>(cp), loc)) : cp);
    }
  }
  return out;
}

bool wildcard_match(const std::string& pattern, const std::string& text) {
  const std::vector<char32_t> p = code_points(pattern);
  const std::vector<char32_t> t = code_points(text);
  // Iterative matcher with single backtrack point for '*': linear in practice, never exponential.
  size_t pi = 0, ti = 0, star = std::string::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

std::string literal_prefix(const std::string& pattern) {
  return pattern.substr(0, pattern.find_first_of("*?"));
}

std::string prefix_successor(const std::string& prefix) {
  std::string s = prefix;
  while (!s.empty()) {
    unsigned char last = static_cast<unsigned char>(s.back());
    if (last < 0xFF) {
      s.back() = static_cast<char>(last + 1);
      return s;
    }
    s.pop_back();
  }
  return {};
}

std::string to_glob(const std::string& pattern) {
  std::string out;
  for (char c : pattern) {
    if (c == '[')
      out += "[[]";
    else
      out += c;
  }
  return out;
}

Condition make_condition(uint32_t tag, Level level, ValueKind kind, const std::string& key_value) {
  Condition c;
  c.tag = tag;
  c.level = level;
  c.kind = kind;
  std::string v = trim(key_value);
  if (v.empty() || v == "*") {
    c.match = MatchKind::kUniversal;
    return c;
  }
  switch (kind) {
    case ValueKind::kText:
    case ValueKind::kPersonName:
      if (kind == ValueKind::kPersonName) {
        v = uppercase_utf8(v);
        while (!v.empty() && (v.back() == '^' || v.back() == ' ')) v.pop_back();
        if (trim(v).empty()) return c;  // "^^^" is an empty name: universal
      }
      c.value = v;
      if (kind == ValueKind::kText && v.find('\\') != std::string::npos && !has_wildcard(v)) {
        // Several values (ModalitiesInStudy "CT\MR"): without extended negotiation their meaning
        // is not defined (C.2.2.2.8); viewers mean "any of them", as for a UID list.
        c.match = MatchKind::kUidList;
        for (const auto& one : split(v, '\\'))
          if (!trim(one).empty()) c.uids.push_back(trim(one));
        break;
      }
      c.match = has_wildcard(v) ? MatchKind::kWildcard : MatchKind::kSingle;
      break;
    case ValueKind::kDate:
    case ValueKind::kTime:
    case ValueKind::kDateTime: {
      auto norm = [&](const std::string& part, bool upper) {
        if (kind == ValueKind::kDate) return normalize_date(part);
        if (kind == ValueKind::kTime) return normalize_time(part, upper);
        return normalize_datetime(part, upper);
      };
      // Any '-' makes a range: PS3.4 C.2.2.2.5 forbids negative UTC offsets in single DT keys.
      const size_t dash = v.find('-');
      c.value = v;
      if (dash == std::string::npos) {
        c.match = MatchKind::kSingle;
        c.lower = norm(v, false);
        c.upper = norm(v, true);
        c.valid = !c.lower.empty() && !c.upper.empty();
      } else {
        c.match = MatchKind::kRange;
        const std::string from = trim(v.substr(0, dash));
        const std::string to = trim(v.substr(dash + 1));
        if (!from.empty()) c.lower = norm(from, false);
        if (!to.empty()) c.upper = norm(to, true);
        c.valid = (from.empty() || !c.lower.empty()) && (to.empty() || !c.upper.empty()) &&
                  !(from.empty() && to.empty()) && v.find('-', dash + 1) == std::string::npos;
      }
      break;
    }
    case ValueKind::kUid: {
      c.value = v;
      if (v.find('\\') != std::string::npos) {
        c.match = MatchKind::kUidList;
        for (const auto& uid : split(v, '\\'))
          if (!trim(uid).empty()) c.uids.push_back(trim(uid));
      } else {
        c.match = MatchKind::kSingle;
      }
      break;
    }
    case ValueKind::kOther:
      c.value = v;
      c.match = MatchKind::kSingle;
      break;
  }
  return c;
}

bool matches(const Condition& c, const std::string& stored) {
  if (c.match == MatchKind::kUniversal) return true;
  for (const auto& value : split(stored, '\\')) {
    bool ok = false;
    switch (c.kind) {
      case ValueKind::kText:
        ok = match_one_text(c, value);
        break;
      case ValueKind::kPersonName:
        ok = match_one_person_name(c, value);
        break;
      case ValueKind::kDate:
      case ValueKind::kTime:
      case ValueKind::kDateTime:
        ok = match_one_ranged(c, value);
        break;
      case ValueKind::kUid:
        if (c.match == MatchKind::kUidList) {
          for (const auto& uid : c.uids) ok = ok || trim(value) == uid;
        } else {
          ok = trim(value) == c.value;
        }
        break;
      case ValueKind::kOther:
        ok = match_one_other(c, value);
        break;
    }
    if (ok) return true;
  }
  return false;
}

}  // namespace ossa::index
