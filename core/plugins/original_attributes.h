#pragma once
// What on_received hooks changed, kept so that the stored instance says it: PS3.3 C.12.1.1.9.
//
// Before a plugin's dataset_set or dataset_remove changes a top-level attribute, the host takes a
// copy of the attribute as it was (or notes that it was absent). Once every hook has run, each
// plugin that changed something gets one item of Original Attributes Sequence (0400,0561):
//   Modified Attributes Sequence (0400,0550)   one item: the prior values; an attribute that was
//                                                absent (added by the plugin) with zero length;
//                                                Issuer of Patient ID along with a changed Patient
//                                                ID
//   Attribute Modification DateTime (0400,0562) when the hooks ran (local time with UTC offset)
//   Modifying System (0400,0563)                the plugin's name
//   Source of Previous Values (0400,0564)       the sender's AE title (zero length for an import)
//   Reason for the Attribute Modification (0400,0565) "COERCE"
// Items already in the sequence are kept; Instance Coercion DateTime (0008,0015) is set.

#include <memory>
#include <string>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dctagkey.h"

class DcmDataset;
class DcmElement;

namespace ossa::plugins {

class OriginalAttributes {
 public:
  OriginalAttributes();
  ~OriginalAttributes();
  OriginalAttributes(const OriginalAttributes&) = delete;
  OriginalAttributes& operator=(const OriginalAttributes&) = delete;

  // The plugin whose hook runs now: what it changes is recorded under its name.
  void begin_plugin(const std::string& plugin_name);

  // Called before `key` is changed or removed in `dataset`. Keeps the value the current plugin
  // first saw (later changes of the same attribute by the same plugin add nothing).
  void before_change(DcmDataset& dataset, const DcmTagKey& key);

  bool empty() const { return changes_.empty(); }

  // Appends one Original Attributes Sequence item per plugin that changed something. When the host
  // moved the dataset to UTF-8 for a plugin's value after a prior value was taken, that value is
  // converted too, so that every item reads in the dataset's character set.
  // Returns false (with `error`) when DCMTK refuses an insertion or a conversion.
  bool write(DcmDataset& dataset, const std::string& source_aet, std::string& error) const;

 private:
  struct Change {
    std::string plugin;
    DcmTagKey key;
    std::unique_ptr<DcmElement> prior;  // nullptr: the attribute was absent
    std::string charset;                // Specific Character Set when `prior` was taken
  };
  std::string plugin_;
  std::vector<Change> changes_;
};

}  // namespace ossa::plugins
