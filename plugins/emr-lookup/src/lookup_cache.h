#pragma once
// Answers of the EMR kept for a while, so a study of 2,000 instances asks once.
//
// Positive entries (the patient's demographics) live `positive_ttl`, negative ones (the EMR said
// "no such patient") `negative_ttl`; an unreachable EMR is never cached here (see Backoff in
// emr_lookup.h). At most `max_entries`: the least recently used entry goes first. Thread-safe:
// on_received runs on several association threads at once.

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "demographics.h"

namespace ossa::emr {

class LookupCache {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  LookupCache(std::chrono::milliseconds positive_ttl, std::chrono::milliseconds negative_ttl,
              size_t max_entries, Clock clock = &std::chrono::steady_clock::now);

  // A kept answer (kFound or kNotFound) that has not expired; nullopt otherwise.
  std::optional<LookupResult> get(const std::string& key);

  // Keeps a kFound or kNotFound answer (a kUnreachable one, or a TTL of 0, keeps nothing).
  void put(const std::string& key, const LookupResult& result);

  size_t size() const;

 private:
  struct Entry {
    LookupResult result;
    std::chrono::steady_clock::time_point expires;
    std::list<std::string>::iterator recency;  // position in recency_ (front = most recent)
  };
  void erase(std::unordered_map<std::string, Entry>::iterator it);

  const std::chrono::milliseconds positive_ttl_;
  const std::chrono::milliseconds negative_ttl_;
  const size_t max_entries_;
  const Clock clock_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> recency_;
};

}  // namespace ossa::emr
