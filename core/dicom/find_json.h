#pragma once
// C-FIND identifiers as JSON, for find providers (archive/find_providers.h): the request
// identifier becomes a JSON object keyed by keyword ("(gggg,eeee)" for private or unknown tags),
// values decoded to UTF-8 strings (several values joined by '\'), sequences as arrays of item
// objects; an answer in that shape becomes a response dataset in UTF-8 (ISO_IR 192).

#include <memory>
#include <string>

class DcmDataset;

namespace ossa::dicom {

// The identifier as JSON object text. Specific Character Set and group lengths are left out
// (values are UTF-8 already).
std::string identifier_to_json(DcmDataset& identifier);

// The answer (JSON object text) as a response dataset with Specific Character Set ISO_IR 192;
// nullptr with `error` set when it is not a JSON object, names an unknown attribute, or holds a
// value DCMTK refuses for its VR.
std::unique_ptr<DcmDataset> answer_to_dataset(const std::string& answer_json, std::string& error);

}  // namespace ossa::dicom
