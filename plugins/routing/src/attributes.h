#pragma once
// The attributes routing rules can name, and where the index keeps each one.
//
// A rule key is a keyword from this table ("Modality", "StudyDate", ...) or a tag written
// "(gggg,eeee)". The level (patient, study, series, instance) mirrors the index's information
// model (PS3.3 Patient, General Study / Patient Study, General Series / General Equipment
// modules; everything else is the instance's): it decides which index query reads the attribute
// back when a decision has to be re-made after a restart, and how a stable-study rule applies.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ossa::routing {

enum class AttrLevel { kPatient, kStudy, kSeries, kInstance };

// How values of an attribute are compared.
enum class ValueKind {
  kText,        // exact (case-sensitive) or wildcard
  kPersonName,  // like text, case-insensitive, trailing empty components ignored
  kDate,        // DA: also ranges A-B, A-, -B
  kTime,        // TM: also ranges
  kDateTime,    // DT: also ranges
};

struct AttributeInfo {
  uint32_t tag = 0;
  std::string keyword;  // "" for a tag outside the table
  AttrLevel level = AttrLevel::kInstance;
  ValueKind kind = ValueKind::kText;
};

// By keyword (exact spelling, as in PS3.6).
std::optional<AttributeInfo> attribute_by_keyword(std::string_view keyword);
// By tag: the table's entry, else the level the index gives the tag and a kind from nothing
// (text).
AttributeInfo attribute_by_tag(uint32_t tag);
// Parses "(gggg,eeee)" (hex, either case); false when malformed.
bool parse_tag_text(std::string_view text, uint32_t& tag);
// "(GGGG,EEEE)", upper case.
std::string tag_text(uint32_t tag);
// The level the index stores a tag at (same rules as the server's index).
AttrLevel index_level_of_tag(uint32_t tag);
const char* level_name(AttrLevel level);

// Every keyword of the table, in table order (documentation and tests).
size_t keyword_count();
const AttributeInfo& keyword_at(size_t i);

}  // namespace ossa::routing
