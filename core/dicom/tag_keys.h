#pragma once
// A query key as people write it: a keyword ("PatientName") or a tag ("(0010,0010)" or
// "0010,0010"). Shared by the command line, the JSON of plugins' find providers and XML-RPC.

#include <string>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dctag.h"

namespace ossa::dicom {

// The tag, with its dictionary VR; false when `key` is neither a known keyword nor a tag.
bool parse_tag_key(const std::string& key, DcmTag& tag);

}  // namespace ossa::dicom
