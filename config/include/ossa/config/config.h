#pragma once
// Ossa's configuration as plain structs, loaded from YAML and fully validated.
// Nothing here knows about networks, DICOM or SQL: the app wires these values into the parts.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ossa::config {

// What to do when an instance arrives whose SOP Instance UID is already stored.
enum class DuplicatePolicy { kOverwrite, kKeep };

enum class LogLevel { kDebug, kInfo, kWarning, kError };

struct ServerConfig {
  std::string aet = "OSSA";
  uint16_t port = 11112;
  // DICOM is meant to be reached by modalities on the network, so it listens on every interface
  // unless told otherwise; the control ports (XML-RPC, HTTP) default to loopback instead.
  std::string bind = "0.0.0.0";
  // Each association is a thread and a socket; 500 at once measured in docs/performance.md.
  int max_associations = 1000;
  std::vector<std::string> allowed_callers;  // empty: any calling AE title is accepted
  int acse_timeout_seconds = 30;             // association set-up and release
  int dimse_timeout_seconds = 60;            // waiting for the next message on an association
  int shutdown_timeout_seconds = 30;         // how long SIGTERM waits for in-flight associations
  uint32_t max_pdu = 131072;
};

struct StorageConfig {
  std::filesystem::path path;  // absolute after loading
  DuplicatePolicy duplicates = DuplicatePolicy::kOverwrite;
  uint64_t min_free_mb = 256;  // refuse new instances (A700) when the disk has less free space
};

// Which implementation of the index (core/index/open_index.h); SQLite is the only one today.
enum class IndexBackend { kSqlite };

struct IndexConfig {
  IndexBackend backend = IndexBackend::kSqlite;
  std::filesystem::path path;  // absolute after loading: the SQLite file
};

// A remote DICOM node (viewer, modality, another PACS) and what Ossa may do with it.
struct NodeConfig {
  std::string name;  // unique, used by people and scripts to refer to the node
  std::string aet;
  std::string host;
  uint16_t port = 104;
  bool move_destination = true;  // C-MOVE may send instances to it
  bool query = false;            // Ossa may C-FIND it
  bool retrieve = false;         // Ossa may C-MOVE / C-GET from it
  bool send = false;             // Ossa may C-STORE to it (send jobs, routing)
};

// A plugin to load: its shared library and its own configuration (any YAML, handed over as JSON).
struct PluginConfig {
  std::filesystem::path path;  // absolute after loading
  std::string config_json = "{}";
};

struct PluginHostConfig {
  int received_budget_ms = 500;     // time an on_received hook may take before over_budget applies
  bool reject_over_budget = false;  // over_budget: accept (false) or reject with A700 (true)
  int stable_after_seconds = 60;    // a study without new instances this long is "stable"
};

// The server's durable jobs (sends to nodes, routing's forwards, retrieves).
struct JobsConfig {
  // While instances are arriving, background sends use at most this share (percent) of their
  // workers' time, pausing between instances, and catch up at full speed in the pauses.
  int send_share_while_ingesting = 5;
};

// The XML-RPC control interface (OsiriX-compatible methods and ossa.*).
struct XmlRpcConfig {
  bool enabled = true;
  uint16_t port = 8080;                  // as OsiriX
  std::string bind = "127.0.0.1";        // loopback unless a token protects it
  std::string token;                     // required when bind is not a loopback address
  uint64_t max_request_bytes = 1 << 20;  // larger requests get HTTP 413
  uint64_t max_download_mb = 2048;       // DownloadURL: largest file fetched
};

struct LogConfig {
  LogLevel level = LogLevel::kInfo;
};

// The HTTP server (/testdbalive, plugin routes; later WADO and DICOMweb). Port 3333 as OsiriX's
// web portal; loopback unless told otherwise, like every control port.
struct HttpConfig {
  uint16_t port = 3333;
  std::string bind = "127.0.0.1";  // a numeric IPv4 or IPv6 address
  uint64_t max_request_mb = 16;    // larger request bodies are refused (413)
};

// `ossa watchdog`: how it probes the server it supervises and when it restarts it.
struct WatchdogConfig {
  int interval_seconds = 10;        // between two probes
  int timeout_seconds = 5;          // a probe that takes longer has failed
  int failures_before_restart = 3;  // consecutive failed probes before the server is restarted
  int grace_seconds = 45;           // SIGTERM, then SIGKILL after this long
  int startup_seconds = 120;        // failures do not count until the first success or this long
  int max_backoff_seconds = 60;     // restarts after quick crashes wait 1, 2, 4 ... up to this
};

struct Config {
  std::filesystem::path source;  // the file it was read from (absolute), empty for defaults
  ServerConfig server;
  StorageConfig storage;
  IndexConfig index;
  std::vector<NodeConfig> nodes;
  std::vector<PluginConfig> plugins;
  PluginHostConfig plugin_host;
  JobsConfig jobs;
  LogConfig log;
  XmlRpcConfig xmlrpc;
  HttpConfig http;
  WatchdogConfig watchdog;
};

// A configuration problem, located: file, 1-based line and column (0 when unknown) and the key
// path.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, int line, int column, std::string key, std::string message);
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  int column() const { return column_; }
  const std::string& key() const { return key_; }
  const std::string& message() const { return message_; }

 private:
  std::string file_;
  int line_;
  int column_;
  std::string key_;
  std::string message_;
};

// Reads and validates a YAML configuration file. Relative paths resolve against the file's folder.
// Unknown keys, wrong types and out-of-range values throw ConfigError naming file, line, column,
// key.
Config load_config_file(const std::filesystem::path& file);

// Same, from text (for tests); `origin` names the source in errors and anchors relative paths.
Config load_config_text(const std::string& yaml_text, const std::filesystem::path& origin);

const char* to_string(DuplicatePolicy policy);
const char* to_string(LogLevel level);

}  // namespace ossa::config
