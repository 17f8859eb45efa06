#pragma once
// The routing rule engine: parsing the plugin's JSON configuration and matching rules against an
// instance (on_received, or re-made from the index) or a whole study (on_stable). No host needed.
//
// Matching, per key of a rule's "when" (all keys must match: AND):
//   * a string: exact match, or a wildcard pattern when it contains * (any run) or ? (one
//     character); "*" matches everything, also an absent attribute; "" matches an absent or empty
//     attribute only;
//   * for dates, times and date-times (DA/TM/DT attributes of the table, and any key whose name
//     ends in Date, Time or DateTime): a range "A-B", "A-" or "-B", bounds included; partial
//     bounds are widened ("2024-" is from 2024-01-01, "-1230" until 12:30:59.999999);
//   * a JSON array: any of its patterns (OR);
//   * person names (PN) compare case-insensitively (ASCII, Latin-1, Latin Extended-A, Greek,
//     Cyrillic), ignoring trailing empty components ("DOE^JOHN^^" = "doe^john");
//   * values have their leading and trailing spaces removed; a multi-valued attribute ("A\B")
//     matches when one of its values does.
// Keys: a keyword of attributes.h, "(gggg,eeee)", "calling_aet" or "called_aet".

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "attributes.h"

namespace ossa::routing {

struct Pattern {
  enum class Kind { kExact, kWildcard, kRange };
  Kind kind = Kind::kExact;
  std::string text;       // kExact, kWildcard: normalized as the values are
  std::string low, high;  // kRange: normalized, widened bounds ("" = open)
};

enum class KeySource { kAttribute, kCallingAet, kCalledAet };

struct Condition {
  std::string key;  // as written in the rule
  KeySource source = KeySource::kAttribute;
  AttributeInfo attribute;  // kAttribute only
  ValueKind kind = ValueKind::kText;
  std::vector<Pattern> any_of;

  // `value` is the attribute's text (multiple values joined by '\'), nullptr when absent.
  bool matches(const std::string* value) const;
  // The key to ask the index for: keyword, else "(gggg,eeee)".
  std::string query_key() const;
  bool is_event_key() const { return source != KeySource::kAttribute; }
};

enum class Trigger { kReceived, kStable };

struct Rule {
  std::string name;
  Trigger on = Trigger::kReceived;
  std::vector<Condition> when;
  std::vector<std::string> forward_to;

  // Instance facts: attribute values by tag and the event's AE titles.
  bool matches(const std::map<uint32_t, std::string>& attributes, const std::string& calling_aet,
               const std::string& called_aet) const;
};

// A study as on_stable sees it.
struct StudyFacts {
  std::map<uint32_t, std::string> study;  // patient and study attributes
  struct Series {
    std::map<uint32_t, std::string> attributes;
    std::vector<std::map<uint32_t, std::string>> instances;  // filled only when needed
  };
  std::vector<Series> series;
  // The (calling, called) AE title pairs the study's instances arrived with, when known.
  std::vector<std::pair<std::string, std::string>> senders;
};

// A stable rule matches a study when its patient/study keys match the study, some series matches
// all its series keys (and, with instance keys, holds an instance matching them all), and, with
// calling_aet/called_aet keys, one of the study's senders matches them.
bool matches_study(const Rule& rule, const StudyFacts& study);

struct RoutingConfig {
  std::vector<Rule> rules;
  std::string state_dir;              // "" = on_stable records in memory only (on_stored: the host)
  size_t pending_capacity = 100000;   // decisions kept between on_received and on_stored
  size_t state_max_records = 100000;  // records per state file generation (two are kept)
  bool fsync = true;                  // fdatasync the state file after each append
};

// Parses the plugin configuration; false with a message naming the offending rule/key.
bool parse_config(const std::string& json_text, RoutingConfig& out, std::string& error);

// One key of a rule: exposed for the tests. `key` is the key name, `value_json` the JSON text of
// its value (a string or an array of strings).
bool parse_condition(const std::string& key, const std::string& value_json, Condition& out,
                     std::string& error);

// Value normalization and wildcard matching, exposed for the tests.
std::string fold_person_name(const std::string& value);
bool wildcard_match(const std::string& pattern, const std::string& value);

}  // namespace ossa::routing
