#include "worklist.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <random>
#include <set>

#include "matching.h"

namespace ossa::worklist {
namespace {

using Json = nlohmann::json;

const std::string kSpsSequence = "ScheduledProcedureStepSequence";

// The attributes that live in the Scheduled Procedure Step Sequence item (PS3.4 Table K.6-1);
// every other entry attribute is at the top level of the answer.
const std::set<std::string>& sps_keys() {
  static const std::set<std::string> keys = {
      "Modality",
      "ScheduledStationAETitle",
      "ScheduledStationName",
      "ScheduledProcedureStepLocation",
      "ScheduledProcedureStepStartDate",
      "ScheduledProcedureStepStartTime",
      "ScheduledProcedureStepEndDate",
      "ScheduledProcedureStepEndTime",
      "ScheduledPerformingPhysicianName",
      "ScheduledProcedureStepDescription",
      "ScheduledProcedureStepID",
      "ScheduledProcedureStepStatus",
      "PreMedication",
      "RequestedContrastAgent",
      "CommentsOnTheScheduledProcedureStep",
  };
  return keys;
}

int64_t unix_now() {
  return static_cast<int64_t>(std::time(nullptr));
}

std::string iso_time(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

MethodError invalid(const std::string& message) {
  return MethodError(MethodError::Kind::kInvalidArgument, message);
}

Json parse_params(const std::string& params_json) {
  Json params = Json::parse(params_json, nullptr, false);
  if (params.is_discarded()) throw invalid("params are not JSON");
  if (params.is_array() && params.size() == 1 && params[0].is_object()) params = params[0];
  if (!params.is_object()) throw invalid("params must be a JSON object");
  return params;
}

std::string order_id_of(const Json& params) {
  const auto it = params.find("order_id");
  if (it == params.end() || !it->is_string() || it->get<std::string>().empty())
    throw invalid("order_id (a non-empty string) is required");
  const std::string id = it->get<std::string>();
  if (id.size() > 256) throw invalid("order_id is longer than 256 characters");
  return id;
}

// A DICOM keyword: a letter, then letters and digits.
bool is_keyword(const std::string& key) {
  if (key.empty() || key.size() > 64 || !std::isalpha(static_cast<unsigned char>(key[0])))
    return false;
  return std::all_of(key.begin(), key.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}

// The "entry" object of add/update as attributes; every value a string.
Attributes entry_of(const Json& params, bool required) {
  const auto it = params.find("entry");
  if (it == params.end()) {
    if (required) throw invalid("entry (an object keyword -> string) is required");
    return {};
  }
  if (!it->is_object()) throw invalid("entry must be an object keyword -> string");
  Attributes attributes;
  for (const auto& [key, value] : it->items()) {
    if (!is_keyword(key)) throw invalid("entry: '" + key + "' is not a DICOM keyword");
    if (key == kSpsSequence || key == "ScheduledProcedureStepStatus" ||
        key == "SpecificCharacterSet")
      throw invalid("entry: " + key + " is set by the worklist, not by the caller");
    if (!value.is_string()) throw invalid("entry: the value of " + key + " must be a string");
    const std::string text = value.get<std::string>();
    if (text.find('\0') != std::string::npos) throw invalid("entry: " + key + " contains NUL");
    if (text.size() > 10240) throw invalid("entry: " + key + " is longer than 10240 bytes");
    attributes[key] = text;
  }
  return attributes;
}

// What the entry answers with: its attributes plus the step status.
Attributes view_of(const Entry& entry) {
  Attributes view = entry.attributes;
  view["ScheduledProcedureStepStatus"] = entry.status;
  return view;
}

std::string value_in(const Attributes& view, const std::string& key) {
  const auto it = view.find(key);
  return it == view.end() ? "" : it->second;
}

bool key_matches(const std::string& key, const Json& wanted, const Attributes& view) {
  if (!wanted.is_string()) return true;  // nested sequences other than the SPS: not matched
  const std::string pattern = wanted.get<std::string>();
  if (is_universal(pattern)) return true;
  return value_matches(match_kind(key), pattern, value_in(view, key));
}

bool entry_matches(const Json& query, const Attributes& view) {
  for (const auto& [key, wanted] : query.items()) {
    if (key == kSpsSequence) {
      if (!wanted.is_array() || wanted.empty() || !wanted[0].is_object()) continue;
      for (const auto& [item_key, item_wanted] : wanted[0].items()) {
        if (!key_matches(item_key, item_wanted, view)) return false;
      }
    } else if (!key_matches(key, wanted, view)) {
      return false;
    }
  }
  return true;
}

// The answer carries exactly the requested keys (PS3.4 K.2.2.1.2): values held, "" (or an empty
// sequence) for those not held.
Json answer_for(const Json& query, const Attributes& view) {
  Json answer = Json::object();
  for (const auto& [key, wanted] : query.items()) {
    if (key == kSpsSequence) {
      Json item = Json::object();
      const bool item_keys =
          wanted.is_array() && !wanted.empty() && wanted[0].is_object() && !wanted[0].empty();
      if (item_keys) {
        for (const auto& [item_key, item_wanted] : wanted[0].items())
          item[item_key] = item_wanted.is_array() ? Json::array() : Json(value_in(view, item_key));
      } else {  // a universal sequence key: the whole step
        for (const std::string& k : sps_keys()) {
          if (view.count(k)) item[k] = view.at(k);
        }
      }
      answer[key] = Json::array({item});
    } else {
      answer[key] = wanted.is_array() ? Json::array() : Json(value_in(view, key));
    }
  }
  return answer;
}

}  // namespace

bool parse_config(const std::string& json, WorklistConfig& config, std::string& error) {
  const Json c = Json::parse(json, nullptr, false);
  if (!c.is_object()) {
    error = "the configuration must be a JSON object";
    return false;
  }
  for (const auto& [key, value] : c.items()) {
    if (key == "state_dir") {
      if (!value.is_string() || value.get<std::string>().empty()) {
        error = "state_dir must be a non-empty path";
        return false;
      }
      config.state_dir = value.get<std::string>();
    } else if (key == "expire_after_hours") {
      // A number, or a string holding one (a quoted YAML scalar arrives as a string).
      double hours = std::nan("");
      if (value.is_number()) {
        hours = value.get<double>();
      } else if (value.is_string()) {
        const std::string text = value.get<std::string>();
        char* end = nullptr;
        hours = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size()) hours = std::nan("");
      }
      if (!(hours > 0) || !std::isfinite(hours) || hours > 24.0 * 366 * 10) {
        error = "expire_after_hours must be a number of hours above 0 (at most ten years)";
        return false;
      }
      config.expire_after_hours = hours;
    } else if (key == "expiry_check_seconds") {
      if (!value.is_number_integer() || value.get<int64_t>() < 1 || value.get<int64_t>() > 86400) {
        error = "expiry_check_seconds must be an integer from 1 to 86400";
        return false;
      }
      config.expiry_check_seconds = value.get<int>();
    } else if (key == "called_aet") {
      const std::string aet = value.is_string() ? value.get<std::string>() : "";
      const bool ok = !aet.empty() && aet.size() <= 16 &&
                      aet.find_first_not_of(' ') != std::string::npos &&
                      std::all_of(aet.begin(), aet.end(),
                                  [](char ch) { return ch >= 0x20 && ch < 0x7f && ch != '\\'; });
      if (!ok) {
        error = "called_aet must be an AE title of 1 to 16 printable ASCII characters";
        return false;
      }
      config.called_aet = aet;
    } else {
      error = "unknown key '" + key +
              "' (known: state_dir, expire_after_hours, expiry_check_seconds, called_aet)";
      return false;
    }
  }
  if (config.state_dir.empty()) {
    error = "state_dir is required (where worklist.db is kept)";
    return false;
  }
  return true;
}

std::string new_uid() {
  // 128 random bits as four 32-bit limbs, most significant first, turned into decimal digits.
  std::random_device random;
  std::array<uint32_t, 4> limbs{random(), random(), random(), random()};
  limbs[1] = (limbs[1] & 0xFFFF0FFFu) | 0x00004000u;  // UUID version 4
  limbs[2] = (limbs[2] & 0x3FFFFFFFu) | 0x80000000u;  // RFC 4122 variant
  std::string digits;
  while (std::any_of(limbs.begin(), limbs.end(), [](uint32_t l) { return l != 0; })) {
    uint64_t remainder = 0;
    for (uint32_t& limb : limbs) {
      const uint64_t current = (remainder << 32) | limb;
      limb = static_cast<uint32_t>(current / 10);
      remainder = current % 10;
    }
    digits += static_cast<char>('0' + remainder);
  }
  std::reverse(digits.begin(), digits.end());
  return "2.25." + (digits.empty() ? std::string("0") : digits);
}

Worklist::Worklist(WorklistConfig config, IndexFind index_find, Log log, Clock clock)
    : config_(std::move(config)),
      index_find_(std::move(index_find)),
      log_(std::move(log)),
      clock_(clock ? std::move(clock) : Clock(unix_now)) {
  std::error_code ec;
  std::filesystem::create_directories(config_.state_dir, ec);
  if (ec)
    throw std::runtime_error("cannot create state_dir " + config_.state_dir + ": " + ec.message());
  store_ = std::make_unique<EntryStore>(
      (std::filesystem::path(config_.state_dir) / "worklist.db").string());
}

int64_t Worklist::oldest_answerable() const {
  return clock_() - static_cast<int64_t>(std::llround(config_.expire_after_hours * 3600.0));
}

std::string Worklist::add(const std::string& params_json) {
  const Json params = parse_params(params_json);
  const std::string order_id = order_id_of(params);
  Attributes attributes = entry_of(params, true);
  if (value_in(attributes, "StudyInstanceUID").empty()) attributes["StudyInstanceUID"] = new_uid();
  const auto id = store_->add(order_id, attributes, clock_());
  if (!id) throw invalid("order_id " + order_id + " already has an entry (use worklist.update)");
  log_(false, "entry added for order " + order_id + " (" + value_in(attributes, "PatientID") +
                  ", " + value_in(attributes, "Modality") + ")");
  return Json{
      {"order_id", order_id}, {"id", *id}, {"StudyInstanceUID", attributes["StudyInstanceUID"]}}
      .dump();
}

std::string Worklist::update(const std::string& params_json) {
  const Json params = parse_params(params_json);
  const std::string order_id = order_id_of(params);
  const Attributes changes = entry_of(params, true);
  auto entry = store_->get(order_id);
  if (!entry) throw MethodError(MethodError::Kind::kNotFound, "no entry for order " + order_id);
  for (const auto& [key, value] : changes) {
    if (value.empty()) {
      if (key == "StudyInstanceUID") throw invalid("StudyInstanceUID cannot be removed");
      entry->attributes.erase(key);
    } else {
      entry->attributes[key] = value;
    }
  }
  if (!store_->replace(order_id, entry->attributes))
    throw MethodError(MethodError::Kind::kNotFound, "no entry for order " + order_id);
  log_(false, "entry for order " + order_id + " updated");
  return Json{{"order_id", order_id}, {"updated", true}}.dump();
}

std::string Worklist::remove(const std::string& params_json) {
  const Json params = parse_params(params_json);
  const std::string order_id = order_id_of(params);
  std::string reason;
  if (const auto it = params.find("reason"); it != params.end()) {
    if (!it->is_string() || it->get<std::string>().size() > 64)
      throw invalid("reason must be a short string (CA, DC, ...)");
    reason = it->get<std::string>();
  }
  const int removed = store_->remove(order_id);
  if (removed == 0)
    throw MethodError(MethodError::Kind::kNotFound, "no entry for order " + order_id);
  log_(false, "entry for order " + order_id + " removed" +
                  (reason.empty() ? std::string() : " (" + reason + ")"));
  return Json{{"removed", removed}}.dump();
}

std::string Worklist::list(const std::string& params_json) {
  const Json params = parse_params(params_json);
  Json filter = Json::object();
  if (const auto it = params.find("filter"); it != params.end()) {
    if (!it->is_object()) throw invalid("filter must be an object keyword -> pattern");
    for (const auto& [key, value] : it->items()) {
      if (!value.is_string()) throw invalid("filter: the pattern of " + key + " must be a string");
    }
    filter = *it;
  }
  Json entries = Json::array();
  for (const Entry& entry : store_->list()) {
    const Attributes view = view_of(entry);
    if (!entry_matches(filter, view)) continue;
    Json out = Json::object();
    for (const auto& [key, value] : entry.attributes) out[key] = value;
    out["order_id"] = entry.order_id;
    out["id"] = entry.id;
    out["status"] = entry.status;
    out["created"] = iso_time(entry.created);
    entries.push_back(std::move(out));
  }
  return Json{{"entries", entries}}.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void Worklist::find(const std::string& query_json,
                    const std::function<bool(const std::string&)>& emit) {
  const Json query = Json::parse(query_json, nullptr, false);
  if (!query.is_object()) throw std::invalid_argument("the C-FIND identifier is not a JSON object");
  const int64_t oldest = oldest_answerable();
  for (const Entry& entry : store_->list("SCHEDULED")) {
    if (entry.created < oldest) continue;  // expired, even if the timer has not marked it yet
    const Attributes view = view_of(entry);
    if (!entry_matches(query, view)) continue;
    if (!emit(answer_for(query, view).dump(-1, ' ', false, Json::error_handler_t::replace))) return;
  }
}

void Worklist::study_stable(const std::string& study_instance_uid) {
  std::string accession;
  const Json query = {
      {"level", "STUDY"},
      {"keys", {{"StudyInstanceUID", study_instance_uid}, {"AccessionNumber", ""}}}};
  if (const auto rows = index_find_(query.dump())) {
    const Json found = Json::parse(*rows, nullptr, false);
    if (found.is_array() && !found.empty() && found[0].is_object())
      accession = found[0].value("AccessionNumber", "");
  } else {
    log_(true, "study " + study_instance_uid +
                   ": cannot read its Accession Number; completing by Study Instance UID only");
  }
  for (const std::string& order_id : store_->complete(study_instance_uid, accession)) {
    log_(false, "entry for order " + order_id + " completed by study " + study_instance_uid +
                    (accession.empty() ? std::string() : " (accession " + accession + ")"));
  }
}

int Worklist::expire() {
  const int expired = store_->expire(oldest_answerable());
  if (expired > 0) log_(false, std::to_string(expired) + " entry(ies) expired");
  return expired;
}

}  // namespace ossa::worklist
