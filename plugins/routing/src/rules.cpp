#include "rules.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

namespace ossa::routing {
namespace {

using json = nlohmann::json;

// ---- UTF-8 and case folding --------------------------------------------------------------------

// Decodes UTF-8; a byte that does not start a valid sequence becomes U+DC00 + byte (so malformed
// text still compares byte for byte).
std::u32string decode_utf8(const std::string& text) {
  std::u32string out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    size_t len = 0;
    char32_t cp = 0;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0 && c >= 0xC2) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (!ok) {
      out.push_back(0xDC00 + c);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp >= 0xDC80 && cp <= 0xDCFF) {  // a malformed byte kept by decode_utf8
    out.push_back(static_cast<char>(cp - 0xDC00));
  } else if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Simple upper-case folding of the scripts person names are written in here: ASCII, Latin-1,
// Latin Extended-A, Greek and Cyrillic. Other characters compare as they are.
char32_t fold(char32_t c) {
  if (c >= 'a' && c <= 'z') return c - 0x20;
  if (c < 0x80) return c;
  if ((c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 0x20;  // à..þ except ÷
  if (c == 0xFF) return 0x178;                                 // ÿ
  if (c >= 0x100 && c <= 0x17F) {
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c & ~char32_t{1};
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c : c - 1;
    return c;
  }
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 0x20;  // Greek α..ω (not final ς)
  if (c == 0x3C2) return 0x3A3;                                 // ς -> Σ
  if (c == 0x3AC) return 0x386;                                 // ά
  if (c >= 0x3AD && c <= 0x3AF) return c - 0x25;                // έ ή ί
  if (c == 0x3CC) return 0x38C;                                 // ό
  if (c == 0x3CD || c == 0x3CE) return c - 0x3F;                // ύ ώ
  if (c >= 0x430 && c <= 0x44F) return c - 0x20;                // Cyrillic а..я
  if (c >= 0x450 && c <= 0x45F) return c - 0x50;                // ѐ..џ
  return c;
}

bool is_space(char c) {
  return c == ' ' || c == '\0' || c == '\t' || c == '\r' || c == '\n';
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool has_wildcard(const std::string& s) {
  return s.find_first_of("*?") != std::string::npos;
}

bool is_temporal(ValueKind k) {
  return k == ValueKind::kDate || k == ValueKind::kTime || k == ValueKind::kDateTime;
}

// One value as compared: trimmed, person names folded, date/time separators of old formats
// removed, date-time offsets dropped.
std::string normalize(ValueKind kind, const std::string& raw) {
  std::string v = trim(raw);
  switch (kind) {
    case ValueKind::kText:
      return v;
    case ValueKind::kPersonName:
      return fold_person_name(v);
    case ValueKind::kDate:
      v.erase(std::remove(v.begin(), v.end(), '.'), v.end());  // ACR-NEMA "2024.01.31"
      return v;
    case ValueKind::kTime:
      v.erase(std::remove(v.begin(), v.end(), ':'), v.end());  // ACR-NEMA "10:30:00"
      return v;
    case ValueKind::kDateTime: {
      const size_t offset = v.find_first_of("+-", 4);
      if (offset != std::string::npos) v.resize(offset);
      return v;
    }
  }
  return v;
}

// Widens a (partial) date, time or date-time to a full, comparable text: lower end of what it
// denotes (high=false) or upper end (high=true). Returns "" when `text` is not of that form.
std::string widen(ValueKind kind, const std::string& text, bool high) {
  std::string whole = text, fraction;
  if (kind != ValueKind::kDate) {
    const size_t dot = text.find('.');
    if (dot != std::string::npos) {
      whole = text.substr(0, dot);
      fraction = text.substr(dot + 1);
      if (!fraction.empty() && !all_digits(fraction)) return "";
      if (fraction.size() > 6) return "";
    }
  }
  if (!all_digits(whole)) return "";
  const char* low_template = "";
  const char* high_template = "";
  size_t min_len = 0;
  switch (kind) {
    case ValueKind::kDate:
      low_template = "00000101";
      high_template = "99991231";
      min_len = 4;
      break;
    case ValueKind::kTime:
      low_template = "000000";
      high_template = "235959";
      min_len = 2;
      break;
    case ValueKind::kDateTime:
      low_template = "00000101000000";
      high_template = "99991231235959";
      min_len = 4;
      break;
    default:
      return "";
  }
  const std::string tmpl = high ? high_template : low_template;
  // Whole components only: YYYY[MM[DD]], HH[MM[SS]], YYYY[MM[DD[HH[MM[SS]]]]].
  if (whole.size() < min_len || whole.size() > tmpl.size() || whole.size() % 2) return "";
  if (!fraction.empty() && whole.size() != tmpl.size()) return "";
  std::string out = whole + tmpl.substr(whole.size());
  if (kind == ValueKind::kDate) return out;
  out += '.';
  out += fraction;
  out.append(6 - fraction.size(), high ? '9' : '0');
  return out;
}

bool match_pattern(const Pattern& p, ValueKind kind, const std::string& normalized) {
  switch (p.kind) {
    case Pattern::Kind::kExact:
      return normalized == p.text;
    case Pattern::Kind::kWildcard:
      return wildcard_match(p.text, normalized);
    case Pattern::Kind::kRange: {
      if (normalized.empty()) return false;
      const std::string v = widen(kind, normalized, false);
      if (v.empty()) return false;
      if (!p.low.empty() && v < p.low) return false;
      if (!p.high.empty() && v > p.high) return false;
      return true;
    }
  }
  return false;
}

bool parse_pattern(ValueKind kind, const std::string& raw, Pattern& out, std::string& error) {
  const std::string text = trim(raw);
  if (is_temporal(kind) && text.find('-') != std::string::npos) {
    if (has_wildcard(text)) {
      error = "a range cannot contain wildcards: '" + text + "'";
      return false;
    }
    const size_t dash = text.find('-');
    if (text.find('-', dash + 1) != std::string::npos || text.find('+') != std::string::npos) {
      error = "a range is A-B, A- or -B (no time zone offsets): '" + text + "'";
      return false;
    }
    std::string a =
        normalize(kind == ValueKind::kDateTime ? ValueKind::kText : kind, text.substr(0, dash));
    std::string b =
        normalize(kind == ValueKind::kDateTime ? ValueKind::kText : kind, text.substr(dash + 1));
    if (a.empty() && b.empty()) {
      error = "a range needs at least one bound: '" + text + "'";
      return false;
    }
    out.kind = Pattern::Kind::kRange;
    if (!a.empty()) {
      out.low = widen(kind, a, false);
      if (out.low.empty()) {
        error = "not a valid range bound: '" + a + "' in '" + text + "'";
        return false;
      }
    }
    if (!b.empty()) {
      out.high = widen(kind, b, true);
      if (out.high.empty()) {
        error = "not a valid range bound: '" + b + "' in '" + text + "'";
        return false;
      }
    }
    if (!out.low.empty() && !out.high.empty() && out.low > out.high) {
      error = "empty range (start after end): '" + text + "'";
      return false;
    }
    return true;
  }
  out.kind = has_wildcard(text) ? Pattern::Kind::kWildcard : Pattern::Kind::kExact;
  out.text = normalize(kind, text);
  return true;
}

bool json_to_pattern_text(const json& v, std::string& out) {
  if (v.is_string()) {
    out = v.get<std::string>();
    return true;
  }
  // YAML turns an unquoted 20240101 or 3 into a JSON number; take it back as the text it was.
  if (v.is_number_integer() || v.is_number_unsigned()) {
    out = v.dump();
    return true;
  }
  if (v.is_number_float()) {
    out = v.dump();
    return true;
  }
  return false;
}

bool ends_with(const std::string& s, const char* suffix) {
  const std::string x(suffix);
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

bool condition_from_json(const std::string& key, const json& value, Condition& out,
                         std::string& error) {
  Condition c;
  c.key = key;
  if (key == "calling_aet") {
    c.source = KeySource::kCallingAet;
  } else if (key == "called_aet") {
    c.source = KeySource::kCalledAet;
  } else if (!key.empty() && key[0] == '(') {
    uint32_t tag = 0;
    if (!parse_tag_text(key, tag)) {
      error = "key '" + key + "' is not a tag written (gggg,eeee)";
      return false;
    }
    c.attribute = attribute_by_tag(tag);
    c.kind = c.attribute.kind;
  } else {
    const auto info = attribute_by_keyword(key);
    if (!info) {
      error = "unknown key '" + key +
              "' (use a keyword of the routing plugin's table, \"(gggg,eeee)\", calling_aet or "
              "called_aet)";
      return false;
    }
    c.attribute = *info;
    c.kind = info->kind;
    if (c.kind == ValueKind::kText) {
      if (ends_with(key, "DateTime"))
        c.kind = ValueKind::kDateTime;
      else if (ends_with(key, "Date"))
        c.kind = ValueKind::kDate;
      else if (ends_with(key, "Time"))
        c.kind = ValueKind::kTime;
    }
  }
  std::vector<json> items;
  if (value.is_array()) {
    if (value.empty()) {
      error = "key '" + key + "': an empty list matches nothing";
      return false;
    }
    items.assign(value.begin(), value.end());
  } else {
    items.push_back(value);
  }
  for (const json& item : items) {
    std::string text;
    if (!json_to_pattern_text(item, text)) {
      error = "key '" + key + "': expected a string or a list of strings, got " + item.dump();
      return false;
    }
    Pattern p;
    std::string why;
    if (!parse_pattern(c.kind, text, p, why)) {
      error = "key '" + key + "': " + why;
      return false;
    }
    c.any_of.push_back(std::move(p));
  }
  out = std::move(c);
  return true;
}

bool all_match(const std::vector<const Condition*>& conds,
               const std::map<uint32_t, std::string>& attributes) {
  for (const Condition* c : conds) {
    const auto it = attributes.find(c->attribute.tag);
    if (!c->matches(it == attributes.end() ? nullptr : &it->second)) return false;
  }
  return true;
}

}  // namespace

std::string fold_person_name(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char32_t c : decode_utf8(value)) append_utf8(out, fold(c));
  // Trailing empty components and groups carry nothing: "DOE^JOHN^^=" is "DOE^JOHN".
  while (!out.empty() && (out.back() == '^' || out.back() == '=' || out.back() == ' '))
    out.pop_back();
  return out;
}

bool wildcard_match(const std::string& pattern_text, const std::string& value_text) {
  const std::u32string p = decode_utf8(pattern_text);
  const std::u32string v = decode_utf8(value_text);
  size_t pi = 0, vi = 0;
  size_t star = std::u32string::npos, resume = 0;
  while (vi < v.size()) {
    if (pi < p.size() && (p[pi] == U'?' || (p[pi] != U'*' && p[pi] == v[vi]))) {
      ++pi;
      ++vi;
    } else if (pi < p.size() && p[pi] == U'*') {
      star = pi++;
      resume = vi;
    } else if (star != std::u32string::npos) {
      pi = star + 1;
      vi = ++resume;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == U'*') ++pi;
  return pi == p.size();
}

bool Condition::matches(const std::string* value) const {
  static const std::string kEmpty;
  const std::string& raw = value ? *value : kEmpty;
  const auto try_one = [&](const std::string& one) {
    const std::string v = normalize(kind, one);
    for (const Pattern& p : any_of)
      if (match_pattern(p, kind, v)) return true;
    return false;
  };
  if (try_one(raw)) return true;
  if (raw.find('\\') == std::string::npos) return false;
  size_t start = 0;
  while (true) {
    const size_t end = raw.find('\\', start);
    if (try_one(raw.substr(start, end == std::string::npos ? std::string::npos : end - start)))
      return true;
    if (end == std::string::npos) return false;
    start = end + 1;
  }
}

std::string Condition::query_key() const {
  return attribute.keyword.empty() ? tag_text(attribute.tag) : attribute.keyword;
}

bool Rule::matches(const std::map<uint32_t, std::string>& attributes,
                   const std::string& calling_aet, const std::string& called_aet) const {
  for (const Condition& c : when) {
    switch (c.source) {
      case KeySource::kCallingAet:
        if (!c.matches(&calling_aet)) return false;
        break;
      case KeySource::kCalledAet:
        if (!c.matches(&called_aet)) return false;
        break;
      case KeySource::kAttribute: {
        const auto it = attributes.find(c.attribute.tag);
        if (!c.matches(it == attributes.end() ? nullptr : &it->second)) return false;
        break;
      }
    }
  }
  return true;
}

bool matches_study(const Rule& rule, const StudyFacts& study) {
  std::vector<const Condition*> study_conds, series_conds, instance_conds, event_conds;
  for (const Condition& c : rule.when) {
    if (c.is_event_key()) {
      event_conds.push_back(&c);
      continue;
    }
    switch (c.attribute.level) {
      case AttrLevel::kPatient:
      case AttrLevel::kStudy:
        study_conds.push_back(&c);
        break;
      case AttrLevel::kSeries:
        series_conds.push_back(&c);
        break;
      case AttrLevel::kInstance:
        instance_conds.push_back(&c);
        break;
    }
  }
  if (!all_match(study_conds, study.study)) return false;
  if (!event_conds.empty()) {
    const bool any = std::any_of(study.senders.begin(), study.senders.end(), [&](const auto& s) {
      for (const Condition* c : event_conds) {
        const std::string& v = c->source == KeySource::kCallingAet ? s.first : s.second;
        if (!c->matches(&v)) return false;
      }
      return true;
    });
    if (!any) return false;
  }
  if (series_conds.empty() && instance_conds.empty()) return true;
  for (const StudyFacts::Series& s : study.series) {
    if (!all_match(series_conds, s.attributes)) continue;
    if (instance_conds.empty()) return true;
    for (const auto& instance : s.instances)
      if (all_match(instance_conds, instance)) return true;
  }
  return false;
}

bool parse_condition(const std::string& key, const std::string& value_json, Condition& out,
                     std::string& error) {
  json v;
  try {
    v = json::parse(value_json);
  } catch (const std::exception& e) {
    error = std::string("not JSON: ") + e.what();
    return false;
  }
  return condition_from_json(key, v, out, error);
}

bool parse_config(const std::string& json_text, RoutingConfig& out, std::string& error) {
  json root;
  try {
    root = json::parse(json_text.empty() ? std::string("{}") : json_text);
  } catch (const std::exception& e) {
    error = std::string("configuration is not JSON: ") + e.what();
    return false;
  }
  if (root.is_null()) root = json::object();
  if (!root.is_object()) {
    error = "configuration: expected an object {\"rules\": [...]}";
    return false;
  }
  RoutingConfig cfg;
  const auto positive = [&](const json& v, const std::string& key, size_t& target) {
    if (!v.is_number_integer() && !v.is_number_unsigned()) {
      error = key + ": expected a positive integer";
      return false;
    }
    const int64_t n = v.get<int64_t>();
    if (n < 1) {
      error = key + ": expected a positive integer";
      return false;
    }
    target = static_cast<size_t>(n);
    return true;
  };
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "rules") {
      if (v.is_null()) continue;
      if (!v.is_array()) {
        error = "rules: expected a list";
        return false;
      }
    } else if (key == "state_dir") {
      if (!v.is_string()) {
        error = "state_dir: expected a path";
        return false;
      }
      cfg.state_dir = v.get<std::string>();
    } else if (key == "pending_capacity") {
      if (!positive(v, key, cfg.pending_capacity)) return false;
    } else if (key == "state_max_records") {
      if (!positive(v, key, cfg.state_max_records)) return false;
    } else if (key == "fsync") {
      if (!v.is_boolean()) {
        error = "fsync: expected true or false";
        return false;
      }
      cfg.fsync = v.get<bool>();
    } else {
      error = "unknown key '" + key +
              "' (known: rules, state_dir, pending_capacity, state_max_records, fsync)";
      return false;
    }
  }
  const json rules = root.value("rules", json::array());
  std::set<std::string> names;
  for (size_t i = 0; i < rules.size(); ++i) {
    const json& r = rules[i];
    const std::string where = "rules[" + std::to_string(i) + "]";
    if (!r.is_object()) {
      error = where + ": expected an object {name, when, forward_to, on}";
      return false;
    }
    Rule rule;
    rule.name = "rule " + std::to_string(i + 1);
    bool have_forward = false;
    for (auto it = r.begin(); it != r.end(); ++it) {
      const std::string& key = it.key();
      const json& v = it.value();
      if (key == "name") {
        if (!v.is_string() || v.get<std::string>().empty()) {
          error = where + ".name: expected a non-empty string";
          return false;
        }
        rule.name = v.get<std::string>();
      } else if (key == "on") {
        const std::string on = v.is_string() ? v.get<std::string>() : "";
        if (on == "received") {
          rule.on = Trigger::kReceived;
        } else if (on == "stable") {
          rule.on = Trigger::kStable;
        } else {
          error = where + ".on: expected \"received\" or \"stable\", got " + v.dump();
          return false;
        }
      } else if (key == "forward_to") {
        std::vector<json> items;
        if (v.is_array())
          items.assign(v.begin(), v.end());
        else
          items.push_back(v);
        for (const json& n : items) {
          if (!n.is_string() || n.get<std::string>().empty()) {
            error = where + ".forward_to: expected a node name or a list of node names";
            return false;
          }
          const std::string node = n.get<std::string>();
          if (std::find(rule.forward_to.begin(), rule.forward_to.end(), node) ==
              rule.forward_to.end())
            rule.forward_to.push_back(node);
        }
        have_forward = true;
      } else if (key == "when") {
        if (v.is_null()) continue;
        if (!v.is_object()) {
          error = where + ".when: expected an object {key: pattern, ...}";
          return false;
        }
        for (auto c = v.begin(); c != v.end(); ++c) {
          Condition cond;
          std::string why;
          if (!condition_from_json(c.key(), c.value(), cond, why)) {
            error = where + " ('" + rule.name + "').when: " + why;
            return false;
          }
          rule.when.push_back(std::move(cond));
        }
      } else {
        error = where + ": unknown key '" + key + "' (known: name, when, forward_to, on)";
        return false;
      }
    }
    if (!have_forward || rule.forward_to.empty()) {
      error = where + " ('" + rule.name + "'): forward_to is missing or empty";
      return false;
    }
    if (!names.insert(rule.name).second) {
      error = where + ": two rules are named '" + rule.name + "'";
      return false;
    }
    cfg.rules.push_back(std::move(rule));
  }
  out = std::move(cfg);
  return true;
}

}  // namespace ossa::routing
