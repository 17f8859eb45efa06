#pragma once
// FHIR R4 Patient -> DICOM demographics, and the search URL. Pure functions: no network.
//
//   name       the "official" HumanName, else "usual", else the first one without a use that
//              says it is not the current name ("old", "maiden", "anonymous", "temp", "nickname")
//              -> PN  family ^ given[0] ^ given[1..] (space-joined) ^ prefix ^ suffix,
//              trailing empty components dropped; '^', '=' and '\' inside a part become spaces
//   birthDate  YYYY-MM-DD -> YYYYMMDD; a partial date (YYYY, YYYY-MM) is not coerced
//   gender     male -> M, female -> F, other -> O; unknown or absent -> not coerced
//   identifier every identifier value except the one looked up -> OtherPatientIDs, in order,
//              without duplicates
//
// The search answer is a Bundle (type searchset): exactly one Patient entry is a match; none is
// "not found"; several are ambiguous and also treated as not found (never guess a patient).

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "demographics.h"

namespace ossa::emr {

// The path and query of GET [base]/Patient?identifier=[system|]value: `base_path` is the path
// part of the base URL ("/fhir", "" for the root; a trailing '/' is dropped); the system and value
// are percent-encoded.
std::string fhir_search_path(std::string_view base_path, std::string_view system,
                             std::string_view value);

// Percent-encodes everything but unreserved characters (RFC 3986).
std::string percent_encode(std::string_view text);

// One Patient resource in DICOM form (fields the resource does not give stay empty).
Demographics map_patient(const nlohmann::json& patient, std::string_view looked_up_system,
                         std::string_view looked_up_value);

// The PN of one HumanName object ("" when it has neither family nor given).
std::string person_name(const nlohmann::json& human_name);

// The result of a search reply body. `looked_up_system`/`looked_up_value` identify the identifier
// searched for (left out of OtherPatientIDs). A body that is not a FHIR Bundle (or not JSON) is
// kUnreachable: the server answered, but not as an EMR would.
LookupResult map_search_bundle(std::string_view body, std::string_view looked_up_system,
                               std::string_view looked_up_value);

}  // namespace ossa::emr
