#pragma once
// The plugin's behaviour behind on_received, without the host (plugin.cpp adapts the SDK):
//
//   PatientID (and IssuerOfPatientID with use_issuer) -> cache -> EMR source -> coercion
//
// Found: each configured attribute the EMR gives a value for and that differs from the received
// one is set (the host records the originals in Original Attributes Sequence). Not found (or
// ambiguous, or an unknown issuer): stored unchanged. Unreachable (connection refused, timeout,
// HTTP or SQL error, a reply that is not what an EMR sends): on_unreachable decides - store
// unchanged with a warning, or refuse with reject_status (0xA700) so the sender retries later.
// After an unreachable answer the EMR is not asked again for retry_unreachable_after: instances
// get the policy at once instead of each waiting for the timeout.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "config.h"
#include "emr_source.h"
#include "lookup_cache.h"

namespace ossa::emr {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// What the hook can do with the incoming instance (the SDK's Dataset in the plugin).
struct DatasetAccess {
  std::function<std::optional<std::string>(uint32_t tag)> get;
  std::function<void(uint32_t tag, const std::string& value)> set;
};

using Logger = std::function<void(LogLevel, const std::string&)>;

namespace tags {
constexpr uint32_t kPatientName = 0x00100010;
constexpr uint32_t kPatientId = 0x00100020;
constexpr uint32_t kIssuerOfPatientId = 0x00100021;
constexpr uint32_t kPatientBirthDate = 0x00100030;
constexpr uint32_t kPatientSex = 0x00100040;
constexpr uint32_t kOtherPatientIds = 0x00101000;
}  // namespace tags

struct LookupCounters {
  uint64_t instances = 0;     // on_received calls with a Patient ID
  uint64_t cache_hits = 0;    // answered from the cache
  uint64_t emr_requests = 0;  // look-ups sent to the EMR
  uint64_t found = 0;         // instances whose patient the EMR knows
  uint64_t not_found = 0;     // instances stored unchanged: unknown patient
  uint64_t unreachable = 0;   // instances that met an unreachable EMR (asked or in back-off)
  uint64_t coerced = 0;       // instances with at least one attribute changed
  uint64_t rejected = 0;      // instances refused (on_unreachable: reject)
};

class EmrLookup {
 public:
  EmrLookup(EmrConfig config, std::unique_ptr<EmrSource> source, Logger log,
            LookupCache::Clock clock = &std::chrono::steady_clock::now);

  // The on_received work: returns a DIMSE status to refuse the instance, or nullopt to store it.
  std::optional<uint16_t> on_received(DatasetAccess& dataset, const std::string& sop_instance_uid);

  LookupCounters counters() const;
  size_t cached() const { return cache_.size(); }
  const EmrConfig& config() const { return config_; }
  std::string describe_source() const { return source_->describe(); }

 private:
  LookupResult look_up(const PatientKey& key);
  int apply(DatasetAccess& dataset, const Demographics& d, std::string& changed);

  EmrConfig config_;
  std::unique_ptr<EmrSource> source_;
  Logger log_;
  LookupCache::Clock clock_;
  LookupCache cache_;
  std::mutex backoff_mutex_;
  std::chrono::steady_clock::time_point unreachable_until_{};
  std::string last_unreachable_;
  struct AtomicCounters {
    std::atomic<uint64_t> instances{0}, cache_hits{0}, emr_requests{0}, found{0}, not_found{0},
        unreachable{0}, coerced{0}, rejected{0};
  } counters_;
};

}  // namespace ossa::emr
