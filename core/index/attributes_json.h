#pragma once
// How the index keeps a level's attributes in a row: one flat JSON object {"GGGGEEEE": "value"},
// readable by SQLite's json_extract (DBWindowFind's predicates on any attribute use it).

#include <string>
#include <string_view>

#include "index/levels.h"

namespace ossa::index {

// The attributes as JSON. A value that is not valid UTF-8 (a charset that could not be decoded)
// is kept, with U+FFFD in place of the bytes that are not.
std::string attributes_to_json(const Attributes& attributes);

// Adds the attributes of `text` (as attributes_to_json writes them) to `into`, replacing values
// of the same tags. Values that are not strings and nested structures are skipped; on malformed
// text, what was read before the error is kept. Empty text (a NULL column) adds nothing.
void merge_attributes_json(std::string_view text, Attributes& into);

// merge_attributes_json's fast path: the exact shape attributes_to_json writes (nlohmann's dump
// without indentation or ASCII escaping): {"GGGGEEEE":"value",...}, values in UTF-8 as they are,
// escaped only as \" \\ \b \f \n \r \t and \u00XX for other control characters. Read directly
// it costs a fraction of a general parser, which a C-FIND pays two or three times per match.
// Returns false on anything else, having possibly added some of the pairs; merge_attributes_json
// then parses the whole text with nlohmann, which adds the same pairs again and the rest.
bool read_written_shape(std::string_view text, Attributes& into);

}  // namespace ossa::index
