#pragma once
// The one error type every index backend throws for a failure of the index itself (not for a bad
// request: predicates throw predicate::PredicateError). Callers outside core/index catch this,
// never a backend's own type, so a second backend changes nothing above the interface.

#include <stdexcept>
#include <string>

namespace ossa::index {

class Error : public std::runtime_error {
 public:
  Error(const std::string& message, bool retryable, bool storage_full)
      : std::runtime_error(message), retryable_(retryable), storage_full_(storage_full) {}

  // The index was busy or locked by another connection or process: the same call may succeed
  // later, nothing is wrong with the request or the data.
  bool retryable() const { return retryable_; }
  // The index's storage is full: writes fail until space is freed.
  bool storage_full() const { return storage_full_; }

 private:
  bool retryable_;
  bool storage_full_;
};

}  // namespace ossa::index
