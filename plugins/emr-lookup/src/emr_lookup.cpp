#include "emr_lookup.h"

#include <cstdio>

namespace ossa::emr {
namespace {

std::string hex_status(uint16_t status) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%04X", status);
  return text;
}

std::string join_ids(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) {
    if (!out.empty()) out += '\\';
    out += id;
  }
  return out;
}

}  // namespace

EmrLookup::EmrLookup(EmrConfig config, std::unique_ptr<EmrSource> source, Logger log,
                     LookupCache::Clock clock)
    : config_(std::move(config)),
      source_(std::move(source)),
      log_(std::move(log)),
      clock_(clock),
      cache_(config_.positive_ttl, config_.negative_ttl, config_.cache_entries, clock) {}

LookupResult EmrLookup::look_up(const PatientKey& key) {
  const std::string cache_key = key.cache_key();
  if (auto cached = cache_.get(cache_key)) {
    ++counters_.cache_hits;
    return *cached;
  }
  {
    std::lock_guard<std::mutex> lock(backoff_mutex_);
    if (clock_() < unreachable_until_) {
      return LookupResult::unreachable("the EMR was unreachable moments ago (" + last_unreachable_ +
                                       "); not asked again yet");
    }
  }
  ++counters_.emr_requests;
  LookupResult result = source_->lookup(key, config_.timeout);
  if (result.outcome == LookupResult::Outcome::kUnreachable) {
    std::lock_guard<std::mutex> lock(backoff_mutex_);
    unreachable_until_ = clock_() + config_.retry_unreachable_after;
    last_unreachable_ = result.detail;
    log_(LogLevel::kWarning, source_->describe() + " unreachable: " + result.detail);
  } else {
    cache_.put(cache_key, result);
  }
  return result;
}

int EmrLookup::apply(DatasetAccess& dataset, const Demographics& d, std::string& changed) {
  int count = 0;
  const auto coerce = [&](bool enabled, uint32_t tag, const char* keyword,
                          const std::string& value) {
    if (!enabled || value.empty()) return;
    const std::optional<std::string> current = dataset.get(tag);
    if (current && *current == value) return;
    dataset.set(tag, value);
    if (!changed.empty()) changed += ", ";
    changed += keyword;
    ++count;
  };
  coerce(config_.coerce.patient_name, tags::kPatientName, "PatientName", d.patient_name);
  coerce(config_.coerce.birth_date, tags::kPatientBirthDate, "PatientBirthDate", d.birth_date);
  coerce(config_.coerce.sex, tags::kPatientSex, "PatientSex", d.sex);
  coerce(config_.coerce.other_ids, tags::kOtherPatientIds, "OtherPatientIDs",
         join_ids(d.other_ids));
  return count;
}

std::optional<uint16_t> EmrLookup::on_received(DatasetAccess& dataset,
                                               const std::string& sop_instance_uid) {
  PatientKey key;
  key.patient_id = dataset.get(tags::kPatientId).value_or("");
  if (key.patient_id.empty()) {
    log_(LogLevel::kDebug, sop_instance_uid + ": no Patient ID; not looked up");
    return std::nullopt;
  }
  if (config_.use_issuer) key.issuer = dataset.get(tags::kIssuerOfPatientId).value_or("");
  ++counters_.instances;

  const LookupResult result = look_up(key);
  const std::string who = "patient " + key.patient_id +
                          (key.issuer.empty() ? std::string() : " (issuer " + key.issuer + ")");
  switch (result.outcome) {
    case LookupResult::Outcome::kFound: {
      ++counters_.found;
      std::string changed;
      if (apply(dataset, result.demographics, changed) > 0) {
        ++counters_.coerced;
        log_(LogLevel::kDebug, sop_instance_uid + ": " + who + ": coerced " + changed);
      }
      return std::nullopt;
    }
    case LookupResult::Outcome::kNotFound:
      ++counters_.not_found;
      log_(LogLevel::kDebug, sop_instance_uid + ": " + who + " not in the EMR (" + result.detail +
                                 "); stored unchanged");
      return std::nullopt;
    case LookupResult::Outcome::kUnreachable:
      break;
  }
  ++counters_.unreachable;
  if (config_.on_unreachable == UnreachablePolicy::kReject) {
    ++counters_.rejected;
    log_(LogLevel::kInfo, sop_instance_uid + ": " + who + ": EMR unreachable; refused with " +
                              hex_status(config_.reject_status) + " so the sender retries");
    return config_.reject_status;
  }
  log_(LogLevel::kWarning, sop_instance_uid + ": " + who +
                               ": EMR unreachable; stored unchanged (on_unreachable: "
                               "store_unchanged)");
  return std::nullopt;
}

LookupCounters EmrLookup::counters() const {
  LookupCounters c;
  c.instances = counters_.instances;
  c.cache_hits = counters_.cache_hits;
  c.emr_requests = counters_.emr_requests;
  c.found = counters_.found;
  c.not_found = counters_.not_found;
  c.unreachable = counters_.unreachable;
  c.coerced = counters_.coerced;
  c.rejected = counters_.rejected;
  return c;
}

}  // namespace ossa::emr
