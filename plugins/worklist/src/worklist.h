#pragma once
// The Modality Worklist itself, without the host: configuration, the entry methods (add, update,
// remove, list; JSON in and out), C-FIND answers (PS3.4 K.6) and the entry life cycle
// (SCHEDULED -> COMPLETED when the study arrives and is stable; -> EXPIRED after
// expire_after_hours). plugin.cpp binds it to the SDK.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "entry_store.h"

namespace ossa::worklist {

struct WorklistConfig {
  std::string state_dir;             // required: worklist.db lives here
  double expire_after_hours = 72.0;  // > 0
  int expiry_check_seconds = 60;     // how often the timer marks expired entries
  std::string called_aet;            // "" = answer on any AE title the server accepts
};

// Parses the plugin's JSON config; false with `error` naming the key and what is wrong.
bool parse_config(const std::string& json, WorklistConfig& config, std::string& error);

// A refused method call: the status the method returns (OSSA_E_INVALID_ARGUMENT or
// OSSA_E_NOT_FOUND values) and why.
class MethodError : public std::runtime_error {
 public:
  enum class Kind { kInvalidArgument, kNotFound };
  MethodError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

class Worklist {
 public:
  using Clock = std::function<int64_t()>;  // unix seconds
  // Runs a host index query (JSON in, JSON array out); nullopt on failure.
  using IndexFind = std::function<std::optional<std::string>(const std::string& query_json)>;
  using Log = std::function<void(bool error, const std::string& message)>;

  Worklist(WorklistConfig config, IndexFind index_find, Log log, Clock clock = nullptr);

  // The methods of the contract (README.md): params and result are JSON text. Throw MethodError
  // for bad params or an unknown order, std::exception for internal failures.
  std::string add(const std::string& params_json);
  std::string update(const std::string& params_json);
  std::string remove(const std::string& params_json);
  std::string list(const std::string& params_json);

  // The answers (JSON objects as text) to a C-FIND identifier (JSON keyed by keyword), sent
  // through `emit` one by one; stops when emit returns false.
  void find(const std::string& query_json, const std::function<bool(const std::string&)>& emit);

  // A study became stable: entries with its Study Instance UID or Accession Number complete.
  void study_stable(const std::string& study_instance_uid);
  // Marks entries older than expire_after_hours as EXPIRED; returns how many.
  int expire();

  const WorklistConfig& config() const { return config_; }

 private:
  int64_t oldest_answerable() const;

  WorklistConfig config_;
  IndexFind index_find_;
  Log log_;
  Clock clock_;
  std::unique_ptr<EntryStore> store_;
};

// A new UID under the 2.25 root (PS3.5 B.2: a UUID as a decimal integer).
std::string new_uid();

}  // namespace ossa::worklist
