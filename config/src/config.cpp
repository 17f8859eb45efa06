// YAML -> Config, with errors that name the file, the position and the key.
// yaml-cpp accepts unknown keys and reports conversions without a key name, so every key is checked
// here against a fixed list and converted by hand.

#include "ossa/config/config.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>

namespace ossa::config {
namespace {

std::string format_error(const std::string& file, int line, int column, const std::string& key,
                         const std::string& message) {
  std::ostringstream out;
  out << (file.empty() ? "<config>" : file);
  if (line > 0) out << ":" << line;
  if (column > 0) out << ":" << column;
  out << ": ";
  if (!key.empty()) out << key << ": ";
  out << message;
  return out.str();
}

// Walks one YAML document, remembering where each key came from.
class Reader {
 public:
  explicit Reader(std::string origin) : origin_(std::move(origin)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& key,
                         const std::string& message) const {
    const YAML::Mark mark = node.Mark();
    const int line = mark.line >= 0 ? mark.line + 1 : 0;
    const int column = mark.column >= 0 ? mark.column + 1 : 0;
    throw ConfigError(origin_, line, column, key, message);
  }

  // Calls `handler(key_path, value)` for each entry of a mapping and rejects keys not in `allowed`.
  void for_each_key(const YAML::Node& map, const std::string& prefix,
                    const std::vector<std::string>& allowed,
                    const std::function<void(const std::string&, const YAML::Node&)>& handler) {
    if (map.IsNull()) return;  // a section whose keys are all commented out: defaults
    if (!map.IsMap()) fail(map, prefix, "expected a mapping of keys");
    std::map<std::string, bool> seen;
    for (const auto& entry : map) {
      if (!entry.first.IsScalar()) fail(entry.first, prefix, "a key must be a plain name");
      const std::string name = entry.first.Scalar();
      const std::string path = prefix.empty() ? name : prefix + "." + name;
      bool known = false;
      for (const auto& a : allowed) known = known || a == name;
      if (!known) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        fail(entry.first, path, "unknown key (known keys here: " + list + ")");
      }
      if (seen[name]) fail(entry.first, path, "key given twice");
      seen[name] = true;
      handler(path, entry.second);
    }
  }

  std::string string_value(const YAML::Node& node, const std::string& key) {
    if (!node.IsScalar()) fail(node, key, "expected a text value");
    return node.Scalar();
  }

  int64_t int_value(const YAML::Node& node, const std::string& key, int64_t min, int64_t max) {
    if (!node.IsScalar()) fail(node, key, "expected a whole number");
    const std::string& text = node.Scalar();
    size_t used = 0;
    long long value = 0;
    try {
      value = std::stoll(text, &used, 10);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != text.size())
      fail(node, key, "expected a whole number, got '" + text + "'");
    if (value < min || value > max) {
      fail(node, key,
           "value " + text + " is out of range (" + std::to_string(min) + " to " +
               std::to_string(max) + ")");
    }
    return value;
  }

  bool bool_value(const YAML::Node& node, const std::string& key) {
    if (!node.IsScalar()) fail(node, key, "expected true or false");
    const std::string& t = node.Scalar();
    if (t == "true" || t == "yes" || t == "on") return true;
    if (t == "false" || t == "no" || t == "off") return false;
    fail(node, key, "expected true or false, got '" + t + "'");
  }

  std::vector<std::string> string_list(const YAML::Node& node, const std::string& key) {
    if (node.IsNull()) return {};
    if (!node.IsSequence()) fail(node, key, "expected a list, e.g. [MODALITY1, VIEWER2]");
    std::vector<std::string> out;
    for (const auto& item : node) out.push_back(string_value(item, key + "[]"));
    return out;
  }

 private:
  std::string origin_;
};

// An AE title: 1 to 16 characters of the default repertoire, no backslash or control characters,
// not only spaces (PS3.5 6.2, VR AE).
bool is_valid_ae_title(const std::string& aet) {
  if (aet.empty() || aet.size() > 16) return false;
  bool has_non_space = false;
  for (unsigned char c : aet) {
    if (c < 0x20 || c > 0x7e || c == '\\') return false;
    has_non_space = has_non_space || c != ' ';
  }
  return has_non_space;
}

std::filesystem::path resolve(const std::filesystem::path& base_dir, const std::string& value) {
  const std::filesystem::path p(value);
  if (p.is_relative()) return (base_dir / p).lexically_normal();
  return p.lexically_normal();
}

std::string non_empty(Reader& r, const YAML::Node& v, const std::string& key) {
  std::string text = r.string_value(v, key);
  if (text.empty()) r.fail(v, key, "must not be empty");
  return text;
}

// A plugin's configuration goes to the plugin as JSON: YAML scalars that read as booleans or
// numbers become those, everything else strings.
void append_json_string(std::string& out, const std::string& text) {
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

std::string yaml_to_json(const YAML::Node& node) {
  std::string out;
  if (node.IsMap()) {
    out += '{';
    bool first = true;
    for (const auto& entry : node) {
      if (!first) out += ',';
      first = false;
      append_json_string(out, entry.first.Scalar());
      out += ':';
      out += yaml_to_json(entry.second);
    }
    out += '}';
  } else if (node.IsSequence()) {
    out += '[';
    for (size_t i = 0; i < node.size(); ++i) {
      if (i) out += ',';
      out += yaml_to_json(node[i]);
    }
    out += ']';
  } else if (node.IsNull()) {
    out += "null";
  } else {
    const std::string& v = node.Scalar();
    const bool quoted = node.Tag() == "!";  // written in quotes: always a string
    char* end = nullptr;
    if (!quoted && (v == "true" || v == "false")) {
      out += v;
    } else if (!quoted && !v.empty() && (std::strtod(v.c_str(), &end), *end == '\0') &&
               v.find_first_not_of("0123456789+-.eE") == std::string::npos) {
      out += v;
    } else {
      append_json_string(out, v);
    }
  }
  return out;
}

// A numeric IPv4 or IPv6 address (no host names: what a port binds to must not depend on DNS).
bool is_ip_address(const std::string& text) {
  unsigned char buffer[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

void parse_http(Reader& r, const YAML::Node& node, HttpConfig& http) {
  r.for_each_key(node, "http", {"port", "bind", "max_request_mb"},
                 [&](const std::string& key, const YAML::Node& v) {
                   if (key == "http.port") {
                     http.port = static_cast<uint16_t>(r.int_value(v, key, 1, 65535));
                   } else if (key == "http.bind") {
                     http.bind = r.string_value(v, key);
                     if (!is_ip_address(http.bind))
                       r.fail(v, key,
                              "'" + http.bind +
                                  "' is not a numeric IP address (e.g. 127.0.0.1, 0.0.0.0, ::1)");
                   } else {
                     http.max_request_mb = static_cast<uint64_t>(r.int_value(v, key, 1, 65536));
                   }
                 });
}

void parse_watchdog(Reader& r, const YAML::Node& node, WatchdogConfig& w) {
  r.for_each_key(node, "watchdog",
                 {"interval_seconds", "timeout_seconds", "failures_before_restart", "grace_seconds",
                  "startup_seconds", "max_backoff_seconds"},
                 [&](const std::string& key, const YAML::Node& v) {
                   if (key == "watchdog.interval_seconds") {
                     w.interval_seconds = static_cast<int>(r.int_value(v, key, 1, 3600));
                   } else if (key == "watchdog.timeout_seconds") {
                     w.timeout_seconds = static_cast<int>(r.int_value(v, key, 1, 600));
                   } else if (key == "watchdog.failures_before_restart") {
                     w.failures_before_restart = static_cast<int>(r.int_value(v, key, 1, 1000));
                   } else if (key == "watchdog.grace_seconds") {
                     w.grace_seconds = static_cast<int>(r.int_value(v, key, 1, 3600));
                   } else if (key == "watchdog.startup_seconds") {
                     w.startup_seconds = static_cast<int>(r.int_value(v, key, 0, 86400));
                   } else {
                     w.max_backoff_seconds = static_cast<int>(r.int_value(v, key, 1, 86400));
                   }
                 });
}

// True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost.
bool is_loopback_address(const std::string& address) {
  if (address == "localhost" || address == "::1") return true;
  unsigned a = 0, b = 0, c = 0, d = 0;
  char extra = 0;
  return std::sscanf(address.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) == 4 && a == 127 &&
         b < 256 && c < 256 && d < 256;
}

void parse_xmlrpc(Reader& r, const YAML::Node& node, XmlRpcConfig& x) {
  r.for_each_key(
      node, "xmlrpc", {"enabled", "port", "bind", "token", "max_request_bytes", "max_download_mb"},
      [&](const std::string& key, const YAML::Node& v) {
        if (key == "xmlrpc.enabled") {
          x.enabled = r.bool_value(v, key);
        } else if (key == "xmlrpc.port") {
          x.port = static_cast<uint16_t>(r.int_value(v, key, 1, 65535));
        } else if (key == "xmlrpc.bind") {
          x.bind = r.string_value(v, key);
          unsigned char address[16];
          if (x.bind != "localhost" && inet_pton(AF_INET, x.bind.c_str(), address) != 1 &&
              inet_pton(AF_INET6, x.bind.c_str(), address) != 1)
            r.fail(v, key,
                   "'" + x.bind + "' is not a numeric IP address (e.g. 127.0.0.1, 0.0.0.0, ::1)");
        } else if (key == "xmlrpc.token") {
          x.token = r.string_value(v, key);
          if (!x.token.empty() && x.token.size() < 16)
            r.fail(v, key, "too short: use at least 16 characters (e.g. openssl rand -hex 24)");
          for (unsigned char c : x.token)
            if (c <= 0x20 || c >= 0x7f)
              r.fail(v, key, "only printable ASCII without spaces (it travels in an HTTP header)");
        } else if (key == "xmlrpc.max_request_bytes") {
          x.max_request_bytes = static_cast<uint64_t>(r.int_value(v, key, 1024, 64 << 20));
        } else {
          x.max_download_mb = static_cast<uint64_t>(r.int_value(v, key, 1, 1 << 20));
        }
      });
  if (x.enabled && x.token.empty() && !is_loopback_address(x.bind)) {
    r.fail(node, "xmlrpc.token",
           "required because xmlrpc.bind (" + x.bind +
               ") is not a loopback address: anyone who can reach the port could delete studies. "
               "Set a token, or bind to 127.0.0.1");
  }
}

Config parse(const YAML::Node& root, const std::string& origin_name,
             const std::filesystem::path& base_dir) {
  Reader r(origin_name);
  Config cfg;
  bool have_storage_path = false;
  bool have_index_path = false;
  if (root.IsNull()) throw ConfigError(origin_name, 0, 0, "", "the configuration is empty");

  r.for_each_key(
      root, "",
      {"server", "storage", "index", "nodes", "plugins", "plugin_host", "jobs", "xmlrpc", "log",
       "http", "watchdog"},
      [&](const std::string& section, const YAML::Node& node) {
        if (section == "server") {
          r.for_each_key(
              node, section,
              {"aet", "port", "bind", "max_associations", "allowed_callers", "acse_timeout",
               "dimse_timeout", "shutdown_timeout", "max_pdu"},
              [&](const std::string& key, const YAML::Node& v) {
                ServerConfig& s = cfg.server;
                if (key == "server.aet") {
                  s.aet = r.string_value(v, key);
                  if (!is_valid_ae_title(s.aet))
                    r.fail(
                        v, key,
                        "'" + s.aet + "' is not a valid AE title (1-16 characters, no backslash)");
                } else if (key == "server.port") {
                  s.port = static_cast<uint16_t>(r.int_value(v, key, 1, 65535));
                } else if (key == "server.bind") {
                  s.bind = r.string_value(v, key);
                } else if (key == "server.max_associations") {
                  s.max_associations = static_cast<int>(r.int_value(v, key, 1, 10000));
                } else if (key == "server.allowed_callers") {
                  s.allowed_callers = r.string_list(v, key);
                  for (const auto& aet : s.allowed_callers)
                    if (!is_valid_ae_title(aet))
                      r.fail(v, key, "'" + aet + "' is not a valid AE title");
                } else if (key == "server.acse_timeout") {
                  s.acse_timeout_seconds = static_cast<int>(r.int_value(v, key, 1, 3600));
                } else if (key == "server.dimse_timeout") {
                  s.dimse_timeout_seconds = static_cast<int>(r.int_value(v, key, 1, 86400));
                } else if (key == "server.shutdown_timeout") {
                  s.shutdown_timeout_seconds = static_cast<int>(r.int_value(v, key, 0, 3600));
                } else if (key == "server.max_pdu") {
                  s.max_pdu = static_cast<uint32_t>(r.int_value(v, key, 4096, 131072));
                }
              });
        } else if (section == "storage") {
          r.for_each_key(node, section, {"path", "duplicates", "min_free_mb"},
                         [&](const std::string& key, const YAML::Node& v) {
                           if (key == "storage.path") {
                             cfg.storage.path = resolve(base_dir, non_empty(r, v, key));
                             have_storage_path = true;
                           } else if (key == "storage.duplicates") {
                             const std::string d = r.string_value(v, key);
                             if (d == "overwrite")
                               cfg.storage.duplicates = DuplicatePolicy::kOverwrite;
                             else if (d == "keep")
                               cfg.storage.duplicates = DuplicatePolicy::kKeep;
                             else
                               r.fail(v, key, "expected 'overwrite' or 'keep', got '" + d + "'");
                           } else if (key == "storage.min_free_mb") {
                             cfg.storage.min_free_mb = static_cast<uint64_t>(
                                 r.int_value(v, key, 0, std::numeric_limits<int64_t>::max()));
                           }
                         });
        } else if (section == "index") {
          r.for_each_key(node, section, {"backend", "path"},
                         [&](const std::string& key, const YAML::Node& v) {
                           if (key == "index.backend") {
                             const std::string b = r.string_value(v, key);
                             if (b == "sqlite")
                               cfg.index.backend = IndexBackend::kSqlite;
                             else
                               r.fail(v, key, "expected 'sqlite', got '" + b + "'");
                           } else if (key == "index.path") {
                             cfg.index.path = resolve(base_dir, non_empty(r, v, key));
                             have_index_path = true;
                           }
                         });
        } else if (section == "nodes") {
          if (node.IsNull()) return;
          if (!node.IsSequence()) r.fail(node, section, "expected a list of nodes");
          for (size_t i = 0; i < node.size(); ++i) {
            const YAML::Node& item = node[i];
            const std::string prefix = "nodes[" + std::to_string(i) + "]";
            NodeConfig n;
            bool have_aet = false, have_host = false, have_port = false;
            r.for_each_key(
                item, prefix,
                {"name", "aet", "host", "port", "move_destination", "query", "retrieve", "send"},
                [&](const std::string& key, const YAML::Node& v) {
                  const std::string field = key.substr(prefix.size() + 1);
                  if (field == "name") {
                    n.name = non_empty(r, v, key);
                  } else if (field == "aet") {
                    n.aet = r.string_value(v, key);
                    if (!is_valid_ae_title(n.aet))
                      r.fail(v, key, "'" + n.aet + "' is not a valid AE title");
                    have_aet = true;
                  } else if (field == "host") {
                    n.host = non_empty(r, v, key);
                    have_host = true;
                  } else if (field == "port") {
                    n.port = static_cast<uint16_t>(r.int_value(v, key, 1, 65535));
                    have_port = true;
                  } else if (field == "move_destination") {
                    n.move_destination = r.bool_value(v, key);
                  } else if (field == "query") {
                    n.query = r.bool_value(v, key);
                  } else if (field == "retrieve") {
                    n.retrieve = r.bool_value(v, key);
                  } else if (field == "send") {
                    n.send = r.bool_value(v, key);
                  }
                });
            if (!have_aet) r.fail(item, prefix + ".aet", "missing: the node's AE title");
            if (!have_host)
              r.fail(item, prefix + ".host", "missing: the node's host name or address");
            if (!have_port) r.fail(item, prefix + ".port", "missing: the node's DICOM port");
            if (n.name.empty()) n.name = n.aet;
            for (const auto& other : cfg.nodes) {
              if (other.aet == n.aet)
                r.fail(item, prefix + ".aet", "AE title '" + n.aet + "' used by two nodes");
              if (other.name == n.name)
                r.fail(item, prefix + ".name", "node name '" + n.name + "' used twice");
            }
            cfg.nodes.push_back(std::move(n));
          }
        } else if (section == "plugins") {
          if (node.IsNull()) return;
          if (!node.IsSequence()) r.fail(node, section, "expected a list of {path, config}");
          for (size_t i = 0; i < node.size(); ++i) {
            const std::string prefix = "plugins[" + std::to_string(i) + "]";
            PluginConfig plugin;
            bool have_path = false;
            r.for_each_key(node[i], prefix, {"path", "config"},
                           [&](const std::string& key, const YAML::Node& v) {
                             if (key == prefix + ".path") {
                               plugin.path = resolve(base_dir, non_empty(r, v, key));
                               have_path = true;
                             } else {
                               plugin.config_json = yaml_to_json(v);
                             }
                           });
            if (!have_path)
              r.fail(node[i], prefix + ".path", "missing: the plugin's shared library");
            cfg.plugins.push_back(std::move(plugin));
          }
        } else if (section == "plugin_host") {
          r.for_each_key(
              node, section, {"received_budget_ms", "over_budget", "stable_after_seconds"},
              [&](const std::string& key, const YAML::Node& v) {
                PluginHostConfig& h = cfg.plugin_host;
                if (key == "plugin_host.received_budget_ms") {
                  h.received_budget_ms = static_cast<int>(r.int_value(v, key, 1, 600000));
                } else if (key == "plugin_host.over_budget") {
                  const std::string a = r.string_value(v, key);
                  if (a == "accept")
                    h.reject_over_budget = false;
                  else if (a == "reject")
                    h.reject_over_budget = true;
                  else
                    r.fail(v, key, "expected 'accept' or 'reject', got '" + a + "'");
                } else {
                  h.stable_after_seconds = static_cast<int>(r.int_value(v, key, 1, 86400));
                }
              });
        } else if (section == "jobs") {
          r.for_each_key(node, section, {"send_share_while_ingesting"},
                         [&](const std::string& key, const YAML::Node& v) {
                           cfg.jobs.send_share_while_ingesting =
                               static_cast<int>(r.int_value(v, key, 1, 100));
                         });
        } else if (section == "http") {
          parse_http(r, node, cfg.http);
        } else if (section == "watchdog") {
          parse_watchdog(r, node, cfg.watchdog);
        } else if (section == "xmlrpc") {
          parse_xmlrpc(r, node, cfg.xmlrpc);
        } else if (section == "log") {
          r.for_each_key(
              node, section, {"level"}, [&](const std::string& key, const YAML::Node& v) {
                const std::string l = r.string_value(v, key);
                if (l == "debug")
                  cfg.log.level = LogLevel::kDebug;
                else if (l == "info")
                  cfg.log.level = LogLevel::kInfo;
                else if (l == "warning")
                  cfg.log.level = LogLevel::kWarning;
                else if (l == "error")
                  cfg.log.level = LogLevel::kError;
                else
                  r.fail(v, key, "expected one of debug, info, warning, error; got '" + l + "'");
              });
        }
      });
  if (!have_storage_path) r.fail(root, "storage.path", "missing: where the DICOM files are kept");
  if (!have_index_path) r.fail(root, "index.path", "missing: the SQLite index file");
  return cfg;
}

Config load(const std::string& text, const std::filesystem::path& origin) {
  const std::string origin_name = origin.string();
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(origin_name, e.mark.line + 1, e.mark.column + 1, "", e.msg);
  }
  std::filesystem::path base_dir = origin.parent_path();
  if (base_dir.empty()) base_dir = std::filesystem::current_path();
  Config cfg = parse(root, origin_name, std::filesystem::absolute(base_dir));
  cfg.source = origin.empty() ? origin : std::filesystem::absolute(origin);
  return cfg;
}

}  // namespace

ConfigError::ConfigError(std::string file, int line, int column, std::string key,
                         std::string message)
    : std::runtime_error(format_error(file, line, column, key, message)),
      file_(std::move(file)),
      line_(line),
      column_(column),
      key_(std::move(key)),
      message_(std::move(message)) {}

Config load_config_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(file.string(), 0, 0, "", "cannot open the file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return load(buffer.str(), file);
}

Config load_config_text(const std::string& yaml_text, const std::filesystem::path& origin) {
  return load(yaml_text, origin);
}

const char* to_string(DuplicatePolicy policy) {
  return policy == DuplicatePolicy::kKeep ? "keep" : "overwrite";
}

const char* to_string(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace ossa::config
