#include "lookup_cache.h"

namespace ossa::emr {

LookupCache::LookupCache(std::chrono::milliseconds positive_ttl,
                         std::chrono::milliseconds negative_ttl, size_t max_entries, Clock clock)
    : positive_ttl_(positive_ttl),
      negative_ttl_(negative_ttl),
      max_entries_(max_entries),
      clock_(std::move(clock)) {}

std::optional<LookupResult> LookupCache::get(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  if (clock_() >= it->second.expires) {
    erase(it);
    return std::nullopt;
  }
  recency_.splice(recency_.begin(), recency_, it->second.recency);
  return it->second.result;
}

void LookupCache::put(const std::string& key, const LookupResult& result) {
  if (result.outcome == LookupResult::Outcome::kUnreachable) return;
  const auto ttl = result.outcome == LookupResult::Outcome::kFound ? positive_ttl_ : negative_ttl_;
  if (ttl.count() <= 0 || max_entries_ == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto expires = clock_() + ttl;
  const auto it = entries_.find(key);
  if (it != entries_.end()) {
    it->second.result = result;
    it->second.expires = expires;
    recency_.splice(recency_.begin(), recency_, it->second.recency);
    return;
  }
  while (entries_.size() >= max_entries_ && !recency_.empty()) {
    erase(entries_.find(recency_.back()));
  }
  recency_.push_front(key);
  entries_.emplace(key, Entry{result, expires, recency_.begin()});
}

size_t LookupCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

void LookupCache::erase(std::unordered_map<std::string, Entry>::iterator it) {
  recency_.erase(it->second.recency);
  entries_.erase(it);
}

}  // namespace ossa::emr
