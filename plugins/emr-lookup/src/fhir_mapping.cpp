#include "fhir_mapping.h"

#include <algorithm>
#include <vector>

namespace ossa::emr {
namespace {

using Json = nlohmann::json;

std::string string_or_empty(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> strings(const Json& object, const char* key) {
  std::vector<std::string> out;
  const auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string() && !v.get<std::string>().empty()) out.push_back(v.get<std::string>());
  }
  return out;
}

// A PN component must not contain the component ('^'), group ('=') or value ('\') delimiters.
std::string pn_part(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '^' || c == '=' || c == '\\'; }, ' ');
  const auto first = text.find_first_not_of(' ');
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(' ') - first + 1);
}

std::string joined(const std::vector<std::string>& parts, size_t from = 0) {
  std::string out;
  for (size_t i = from; i < parts.size(); ++i) {
    const std::string part = pn_part(parts[i]);
    if (part.empty()) continue;
    if (!out.empty()) out += ' ';
    out += part;
  }
  return out;
}

// The name to use: official, else usual, else the first current-looking one.
const Json* chosen_name(const Json& patient) {
  const auto it = patient.find("name");
  if (it == patient.end() || !it->is_array()) return nullptr;
  for (const char* wanted : {"official", "usual"}) {
    for (const auto& name : *it) {
      if (name.is_object() && string_or_empty(name, "use") == wanted && !person_name(name).empty())
        return &name;
    }
  }
  for (const auto& name : *it) {
    if (!name.is_object()) continue;
    const std::string use = string_or_empty(name, "use");
    const bool not_current =
        use == "old" || use == "maiden" || use == "anonymous" || use == "temp" || use == "nickname";
    if (!not_current && !person_name(name).empty()) return &name;
  }
  return nullptr;
}

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// FHIR date YYYY-MM-DD -> DA; anything less precise (or malformed) -> "".
std::string dicom_date(const std::string& fhir) {
  if (fhir.size() != 10 || fhir[4] != '-' || fhir[7] != '-') return "";
  const std::string da = fhir.substr(0, 4) + fhir.substr(5, 2) + fhir.substr(8, 2);
  return all_digits(da) ? da : "";
}

std::string dicom_sex(const std::string& gender) {
  if (gender == "male") return "M";
  if (gender == "female") return "F";
  if (gender == "other") return "O";
  return "";  // "unknown" says nothing
}

}  // namespace

std::string percent_encode(std::string_view text) {
  static const char* const kHex = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string fhir_search_path(std::string_view base_path, std::string_view system,
                             std::string_view value) {
  std::string path(base_path);
  while (!path.empty() && path.back() == '/') path.pop_back();
  path += "/Patient?identifier=";
  if (!system.empty()) path += percent_encode(system) + "%7C";  // system|value
  path += percent_encode(value);
  return path;
}

std::string person_name(const Json& human_name) {
  if (!human_name.is_object()) return "";
  const std::vector<std::string> given = strings(human_name, "given");
  std::vector<std::string> components = {
      pn_part(string_or_empty(human_name, "family")),
      given.empty() ? std::string() : pn_part(given[0]),
      joined(given, 1),
      joined(strings(human_name, "prefix")),
      joined(strings(human_name, "suffix")),
  };
  if (components[0].empty() && components[1].empty()) return "";
  while (!components.empty() && components.back().empty()) components.pop_back();
  std::string pn;
  for (size_t i = 0; i < components.size(); ++i) {
    if (i > 0) pn += '^';
    pn += components[i];
  }
  return pn;
}

Demographics map_patient(const Json& patient, std::string_view looked_up_system,
                         std::string_view looked_up_value) {
  Demographics d;
  if (!patient.is_object()) return d;
  if (const Json* name = chosen_name(patient)) d.patient_name = person_name(*name);
  d.birth_date = dicom_date(string_or_empty(patient, "birthDate"));
  d.sex = dicom_sex(string_or_empty(patient, "gender"));
  const auto ids = patient.find("identifier");
  if (ids != patient.end() && ids->is_array()) {
    for (const auto& id : *ids) {
      if (!id.is_object()) continue;
      const std::string value = string_or_empty(id, "value");
      const std::string system = string_or_empty(id, "system");
      if (value.empty() || value.find('\\') != std::string::npos) continue;
      const bool looked_up =
          value == looked_up_value && (looked_up_system.empty() || system == looked_up_system);
      if (looked_up) continue;
      if (std::find(d.other_ids.begin(), d.other_ids.end(), value) == d.other_ids.end())
        d.other_ids.push_back(value);
    }
  }
  return d;
}

LookupResult map_search_bundle(std::string_view body, std::string_view looked_up_system,
                               std::string_view looked_up_value) {
  const Json bundle = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (bundle.is_discarded()) return LookupResult::unreachable("the FHIR reply is not JSON");
  if (!bundle.is_object() || string_or_empty(bundle, "resourceType") != "Bundle")
    return LookupResult::unreachable("the FHIR reply is not a Bundle");
  std::vector<const Json*> patients;
  const auto entries = bundle.find("entry");
  if (entries != bundle.end() && entries->is_array()) {
    for (const auto& entry : *entries) {
      if (!entry.is_object()) continue;
      const auto resource = entry.find("resource");
      if (resource == entry.end() || !resource->is_object()) continue;
      if (string_or_empty(*resource, "resourceType") != "Patient")
        continue;  // e.g. OperationOutcome
      // Only matches count: an "include" entry is another resource the server added.
      const auto search = entry.find("search");
      if (search != entry.end() && search->is_object() &&
          string_or_empty(*search, "mode") == "include")
        continue;
      patients.push_back(&*resource);
    }
  }
  if (patients.empty()) return LookupResult::not_found("no Patient with this identifier");
  if (patients.size() > 1) {
    return LookupResult::not_found(std::to_string(patients.size()) +
                                   " Patients with this identifier (ambiguous)");
  }
  Demographics d = map_patient(*patients.front(), looked_up_system, looked_up_value);
  if (d.empty()) return LookupResult::not_found("the Patient has no usable demographics");
  return LookupResult::found(std::move(d));
}

}  // namespace ossa::emr
