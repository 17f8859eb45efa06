#pragma once
// C-FIND identifiers <-> the index's FindQuery / FindMatch. DICOM rules live here (levels, models,
// hierarchical key requirements, character sets); the index only sees UTF-8 conditions.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "index/index.h"

namespace ossa::dicom {

enum class QueryModel { kPatientRoot, kStudyRoot };

struct TranslatedFind {
  index::FindQuery query;
  std::vector<DcmTag> return_keys;     // requested keys Ossa answers (with their VRs)
  bool some_keys_unsupported = false;  // => Pending status FF01 instead of FF00
  std::string query_charset;           // the identifier's (0008,0005), raw
  std::string level_text;              // "STUDY", ...
  // Failure (no query runs): the status, the offending element and a comment.
  uint16_t error_status = 0;
  DcmTagKey offending;
  std::string error;
};

// Reads a C-FIND identifier. On a bad identifier, error_status is set (0xA900 or 0xC000-range).
TranslatedFind translate_find(DcmDataset& identifier, QueryModel model);

// Reads a C-MOVE / C-GET identifier: the hierarchical rules of translate_find, plus a non-universal
// unique key at the retrieve level (so a request never means "the whole archive"); only unique
// keys are used for matching (PS3.4 C.4.2.1.4).
TranslatedFind translate_retrieve(DcmDataset& identifier, QueryModel model);

// Builds the response identifiers of one C-FIND: the requested keys (zero-length when the archive
// has no value), unique keys of the levels above, the level, Retrieve AE Title, and the character
// set that was used: the query's own when every value fits in it, UTF-8 otherwise.
//
// The elements are created once per query and only their values change from match to match:
// creating and inserting a dozen elements per match cost about as much as encoding them.
class FindResponseBuilder {
 public:
  // `find` must outlive the builder.
  FindResponseBuilder(const TranslatedFind& find, const std::string& retrieve_aet);
  FindResponseBuilder(const FindResponseBuilder&) = delete;
  FindResponseBuilder& operator=(const FindResponseBuilder&) = delete;

  // The identifier for `match`; valid until the next call.
  DcmDataset& build(const index::FindMatch& match);

 private:
  const TranslatedFind& find_;
  DcmDataset answer_;                 // ASCII answers: the level, Retrieve AE Title, return keys
  std::vector<DcmElement*> values_;   // owned by answer_, one per return key
  std::unique_ptr<DcmDataset> text_;  // an answer with non-ASCII text, in its character set
};

}  // namespace ossa::dicom
