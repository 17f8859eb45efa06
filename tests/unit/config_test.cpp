// Configuration loading (config/include/ossa/config/config.h): defaults, path resolution, and
// located errors for every kind of mistake.

#include "ossa/config/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>

#ifndef OSSA_SOURCE_DIR
#error "OSSA_SOURCE_DIR must name the source tree (set in tests/CMakeLists.txt)"
#endif

namespace {

namespace fs = std::filesystem;
using ossa::config::Config;
using ossa::config::ConfigError;
using ossa::config::DuplicatePolicy;
using ossa::config::IndexBackend;
using ossa::config::load_config_file;
using ossa::config::load_config_text;
using ossa::config::LogLevel;

const fs::path kOrigin = "/etc/ossa/ossa.yaml";
const std::string kPaths = "storage:\n  path: data\nindex:\n  path: index.sqlite\n";

// Loads `yaml` and returns the ConfigError it must throw (any other outcome fails the test).
std::optional<ConfigError> load_error(const std::string& yaml) {
  try {
    load_config_text(yaml, kOrigin);
    ADD_FAILURE() << "no error for:\n" << yaml;
  } catch (const ConfigError& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a ConfigError: " << e.what() << "\nfor:\n" << yaml;
  }
  return std::nullopt;
}

TEST(Config, Defaults) {
  const Config c = load_config_text(kPaths, kOrigin);
  EXPECT_EQ(c.source, kOrigin);
  EXPECT_EQ(c.server.aet, "OSSA");
  EXPECT_EQ(c.server.port, 11112);
  EXPECT_EQ(c.server.bind, "0.0.0.0");
  EXPECT_EQ(c.server.max_associations, 1000);
  EXPECT_TRUE(c.server.allowed_callers.empty());
  EXPECT_EQ(c.server.acse_timeout_seconds, 30);
  EXPECT_EQ(c.server.dimse_timeout_seconds, 60);
  EXPECT_EQ(c.server.shutdown_timeout_seconds, 30);
  EXPECT_EQ(c.server.max_pdu, 131072u);
  EXPECT_EQ(c.storage.duplicates, DuplicatePolicy::kOverwrite);
  EXPECT_EQ(c.storage.min_free_mb, 256u);
  EXPECT_EQ(c.log.level, LogLevel::kInfo);
}

TEST(Config, EveryKeySet) {
  const Config c = load_config_text(
      "server:\n"
      "  aet: MY_PACS\n"
      "  port: 104\n"
      "  bind: 127.0.0.1\n"
      "  max_associations: 5\n"
      "  allowed_callers: [MODALITY1, 'VIEWER 2']\n"
      "  acse_timeout: 10\n"
      "  dimse_timeout: 20\n"
      "  shutdown_timeout: 0\n"
      "  max_pdu: 16384\n"
      "storage:\n"
      "  path: /srv/ossa/storage\n"
      "  duplicates: keep\n"
      "  min_free_mb: 0\n"
      "index:\n"
      "  path: /srv/ossa/index.sqlite\n"
      "log:\n"
      "  level: debug\n",
      kOrigin);
  EXPECT_EQ(c.server.aet, "MY_PACS");
  EXPECT_EQ(c.server.port, 104);
  EXPECT_EQ(c.server.bind, "127.0.0.1");
  EXPECT_EQ(c.server.max_associations, 5);
  EXPECT_EQ(c.server.allowed_callers, (std::vector<std::string>{"MODALITY1", "VIEWER 2"}));
  EXPECT_EQ(c.server.acse_timeout_seconds, 10);
  EXPECT_EQ(c.server.dimse_timeout_seconds, 20);
  EXPECT_EQ(c.server.shutdown_timeout_seconds, 0);
  EXPECT_EQ(c.server.max_pdu, 16384u);
  EXPECT_EQ(c.storage.path, fs::path("/srv/ossa/storage"));  // absolute paths stay
  EXPECT_EQ(c.storage.duplicates, DuplicatePolicy::kKeep);
  EXPECT_EQ(c.storage.min_free_mb, 0u);
  EXPECT_EQ(c.index.path, fs::path("/srv/ossa/index.sqlite"));
  EXPECT_EQ(c.log.level, LogLevel::kDebug);
}

TEST(Config, LogLevels) {
  const std::pair<const char*, LogLevel> levels[] = {{"debug", LogLevel::kDebug},
                                                     {"info", LogLevel::kInfo},
                                                     {"warning", LogLevel::kWarning},
                                                     {"error", LogLevel::kError}};
  for (const auto& [text, level] : levels) {
    SCOPED_TRACE(text);
    EXPECT_EQ(load_config_text(kPaths + "log:\n  level: " + text + "\n", kOrigin).log.level, level);
    EXPECT_STREQ(ossa::config::to_string(level), text);
  }
  EXPECT_STREQ(ossa::config::to_string(DuplicatePolicy::kKeep), "keep");
  EXPECT_STREQ(ossa::config::to_string(DuplicatePolicy::kOverwrite), "overwrite");
}

TEST(Config, RelativePathsResolveAgainstTheFilesFolder) {
  const Config c = load_config_text(
      "storage:\n  path: ../var/storage\nindex:\n  path: ./db/index.sqlite\n", kOrigin);
  EXPECT_EQ(c.storage.path, fs::path("/etc/var/storage"));
  EXPECT_EQ(c.index.path, fs::path("/etc/ossa/db/index.sqlite"));
  EXPECT_TRUE(c.storage.path.is_absolute());
}

TEST(Config, RelativeOriginResolvesAgainstTheCurrentFolder) {
  const Config c = load_config_text(kPaths, "ossa.yaml");
  EXPECT_EQ(c.storage.path, (fs::current_path() / "data").lexically_normal());
  EXPECT_EQ(c.index.path, (fs::current_path() / "index.sqlite").lexically_normal());
  EXPECT_EQ(c.source, fs::current_path() / "ossa.yaml");
}

TEST(Config, UnknownTopLevelKey) {
  const auto e = load_error(kPaths + "servr:\n  port: 104\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->file(), kOrigin.string());
  EXPECT_EQ(e->key(), "servr");
  EXPECT_EQ(e->line(), 5);
  EXPECT_EQ(e->column(), 1);
  EXPECT_NE(e->message().find("unknown key"), std::string::npos) << e->message();
  // The message lists the keys that are allowed.
  EXPECT_NE(e->message().find("server, storage, index, nodes, plugins, plugin_host, jobs, "),
            std::string::npos)
      << e->message();
  EXPECT_EQ(std::string(e->what()).rfind("/etc/ossa/ossa.yaml:5:1: servr: ", 0), 0u) << e->what();
}

TEST(Config, UnknownNestedKey) {
  const auto e = load_error("server:\n  aet: OSSA\n  prot: 104\n" + kPaths);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "server.prot");
  EXPECT_EQ(e->line(), 3);
  EXPECT_EQ(e->column(), 3);
  EXPECT_NE(e->message().find("port"), std::string::npos) << e->message();

  const auto f = load_error("storage:\n  path: data\n  duplicate: keep\nindex:\n  path: x\n");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->key(), "storage.duplicate");
  EXPECT_EQ(f->line(), 3);
}

TEST(Config, WrongType) {
  auto e = load_error("server:\n  port: abc\n" + kPaths);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "server.port");
  EXPECT_EQ(e->line(), 2);
  EXPECT_EQ(e->column(), 9);
  EXPECT_NE(e->message().find("abc"), std::string::npos) << e->message();

  e = load_error("server:\n  port: 11112.5\n" + kPaths);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "server.port");

  e = load_error("server:\n  port: [1]\n" + kPaths);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "server.port");

  e = load_error("server:\n  aet: [OSSA]\n" + kPaths);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "server.aet");

  e = load_error("server:\n  allowed_callers: MODALITY1\n" + kPaths);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "server.allowed_callers");

  e = load_error("server: 5\n" + kPaths);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "server");
  EXPECT_EQ(e->line(), 1);

  e = load_error("- a\n- b\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->line(), 1);
}

TEST(Config, OutOfRange) {
  struct Case {
    std::string yaml;
    std::string key;
  };
  const Case cases[] = {
      {"server:\n  port: 70000\n", "server.port"},
      {"server:\n  port: 0\n", "server.port"},
      {"server:\n  port: -1\n", "server.port"},
      {"server:\n  port: 99999999999999999999999\n", "server.port"},
      {"server:\n  max_associations: 0\n", "server.max_associations"},
      {"server:\n  max_pdu: 4095\n", "server.max_pdu"},
      {"server:\n  max_pdu: 131073\n", "server.max_pdu"},
      {"server:\n  acse_timeout: 0\n", "server.acse_timeout"},
      {"server:\n  shutdown_timeout: -1\n", "server.shutdown_timeout"},
      {"storage:\n  path: d\n  min_free_mb: -5\nindex:\n  path: x\n", "storage.min_free_mb"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    const std::string yaml = c.yaml.rfind("storage", 0) == 0 ? c.yaml : c.yaml + kPaths;
    const auto e = load_error(yaml);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->key(), c.key);
    EXPECT_EQ(e->line(), c.key == "storage.min_free_mb" ? 3 : 2);
  }
  // The message names the range.
  const auto e = load_error("server:\n  port: 70000\n" + kPaths);
  ASSERT_TRUE(e);
  EXPECT_NE(e->message().find("1 to 65535"), std::string::npos) << e->message();
  // The bounds themselves are accepted.
  EXPECT_EQ(load_config_text("server:\n  port: 65535\n" + kPaths, kOrigin).server.port, 65535);
  EXPECT_EQ(load_config_text("server:\n  port: 1\n" + kPaths, kOrigin).server.port, 1);
}

TEST(Config, BadDuplicatesValue) {
  const auto e = load_error("storage:\n  path: d\n  duplicates: replace\nindex:\n  path: x\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "storage.duplicates");
  EXPECT_EQ(e->line(), 3);
  EXPECT_EQ(e->column(), 15);
  EXPECT_NE(e->message().find("replace"), std::string::npos) << e->message();
  // Case matters: the documented values are lower case.
  EXPECT_TRUE(load_error("storage:\n  path: d\n  duplicates: Keep\nindex:\n  path: x\n"));
}

TEST(Config, IndexBackend) {
  EXPECT_EQ(load_config_text(kPaths, kOrigin).index.backend, IndexBackend::kSqlite);  // default
  const Config c =
      load_config_text("storage:\n  path: d\nindex:\n  backend: sqlite\n  path: x\n", kOrigin);
  EXPECT_EQ(c.index.backend, IndexBackend::kSqlite);
  EXPECT_EQ(c.index.path, fs::path("/etc/ossa/x"));
  const auto e = load_error("storage:\n  path: d\nindex:\n  backend: postgresql\n  path: x\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->file(), kOrigin.string());
  EXPECT_EQ(e->key(), "index.backend");
  EXPECT_EQ(e->line(), 4);
  EXPECT_EQ(e->column(), 12);
  EXPECT_NE(e->message().find("postgresql"), std::string::npos) << e->message();
  EXPECT_NE(e->message().find("sqlite"), std::string::npos) << e->message();
  // Not a text value, and case matters as for every other value.
  EXPECT_TRUE(load_error("storage:\n  path: d\nindex:\n  backend: [sqlite]\n  path: x\n"));
  EXPECT_TRUE(load_error("storage:\n  path: d\nindex:\n  backend: SQLite\n  path: x\n"));
}

TEST(Config, BadLogLevel) {
  const auto e = load_error(kPaths + "log:\n  level: verbose\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "log.level");
  EXPECT_EQ(e->line(), 6);
}

TEST(Config, BadAeTitles) {
  const std::string bad[] = {
      "ABCDEFGHIJKLMNOPQ",  // 17 characters
      "OS\\SA",             // backslash
      "'   '",              // only spaces
      "''",                 // empty
      "\"A\\tB\"",          // control character
      "\"Ä\"",              // not the default repertoire
  };
  for (const auto& aet : bad) {
    SCOPED_TRACE(aet);
    const auto e = load_error("server:\n  aet: " + aet + "\n" + kPaths);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->key(), "server.aet");
    EXPECT_EQ(e->line(), 2);
    EXPECT_EQ(e->column(), 8);
  }
  // 16 characters is the maximum.
  EXPECT_EQ(load_config_text("server:\n  aet: ABCDEFGHIJKLMNOP\n" + kPaths, kOrigin).server.aet,
            "ABCDEFGHIJKLMNOP");
  // Callers are checked the same way.
  const auto e = load_error("server:\n  allowed_callers: [GOOD, ABCDEFGHIJKLMNOPQ]\n" + kPaths);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "server.allowed_callers");
  EXPECT_NE(e->message().find("ABCDEFGHIJKLMNOPQ"), std::string::npos) << e->message();
}

TEST(Config, YamlSyntaxError) {
  auto e = load_error("server:\n  aet: OSSA\n port: 104\n" + kPaths);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->file(), kOrigin.string());
  EXPECT_EQ(e->line(), 3);
  EXPECT_EQ(e->column(), 2);
  EXPECT_EQ(e->key(), "");
  EXPECT_FALSE(e->message().empty());

  e = load_error("server:\n  aet: [OSSA\n  port: 104\n");
  ASSERT_TRUE(e);
  EXPECT_GE(e->line(), 2);
  EXPECT_GT(e->column(), 0);
}

TEST(Config, MissingPaths) {
  auto e = load_error("index:\n  path: index.sqlite\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "storage.path");
  EXPECT_NE(e->message().find("missing"), std::string::npos) << e->message();

  e = load_error("storage:\n  path: data\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "index.path");

  e = load_error("storage:\n  duplicates: keep\nindex:\n  path: x\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "storage.path");
}

TEST(Config, EmptyDocument) {
  for (const std::string yaml : {"", "# nothing but a comment\n", "~\n"}) {
    SCOPED_TRACE(yaml);
    const auto e = load_error(yaml);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->file(), kOrigin.string());
  }
}

TEST(Config, DuplicateKeys) {
  auto e = load_error("server:\n  port: 104\n  port: 105\n" + kPaths);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "server.port");
  EXPECT_EQ(e->line(), 3);
  EXPECT_EQ(e->column(), 3);
  EXPECT_NE(e->message().find("twice"), std::string::npos) << e->message();

  e = load_error(kPaths + "storage:\n  path: other\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "storage");
  EXPECT_EQ(e->line(), 5);

  e = load_error("server: {aet: A, aet: B}\n" + kPaths);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "server.aet");
}

TEST(Config, MissingFile) {
  try {
    load_config_file("/nonexistent/ossa-unit-test/ossa.yaml");
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), "/nonexistent/ossa-unit-test/ossa.yaml");
    EXPECT_EQ(e.line(), 0);
  }
}

TEST(Config, RepositoryFileLoads) {
  const fs::path file = fs::path(OSSA_SOURCE_DIR) / "config" / "ossa.yaml";
  const Config c = load_config_file(file);
  EXPECT_EQ(c.source, fs::absolute(file));
  EXPECT_EQ(c.server.aet, "OSSA");
  EXPECT_EQ(c.server.port, 11112);
  EXPECT_EQ(c.server.bind, "0.0.0.0");
  EXPECT_EQ(c.server.max_associations, 1000);
  EXPECT_TRUE(c.server.allowed_callers.empty());
  EXPECT_EQ(c.server.max_pdu, 131072u);
  EXPECT_EQ(c.storage.duplicates, DuplicatePolicy::kOverwrite);
  EXPECT_EQ(c.storage.min_free_mb, 256u);
  EXPECT_EQ(c.log.level, LogLevel::kInfo);
  const fs::path source_dir = fs::path(OSSA_SOURCE_DIR).lexically_normal();
  EXPECT_EQ(c.storage.path, (source_dir / "var" / "storage").lexically_normal());
  EXPECT_EQ(c.index.path, (source_dir / "var" / "index.sqlite").lexically_normal());
  EXPECT_EQ(c.index.backend, IndexBackend::kSqlite);
}

// BUG: a mapping key that is not a scalar (YAML "? [a, b]") makes yaml-cpp's as<std::string>()
// throw YAML::TypedBadConversion out of load_config_text instead of a located ConfigError.
TEST(Config, NonScalarKeyIsAConfigError) {
  auto e = load_error("? [a, b]\n: c\n" + kPaths);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->line(), 1);
  e = load_error("server:\n  ? [x]\n  : 1\n" + kPaths);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->line(), 2);
}

// BUG: "storage: path: ''" is accepted and resolves to the configuration's own folder
// ("/etc/ossa/"), so the archive would write DICOM files next to ossa.yaml; an empty path should be
// refused like a missing one.
TEST(Config, EmptyPathIsAnError) {
  auto e = load_error("storage:\n  path: ''\nindex:\n  path: x\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "storage.path");
  e = load_error("storage:\n  path: d\nindex:\n  path: ''\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "index.path");
}

// BUG: a section whose keys are all commented out ("log:" followed by comments only) is a YAML
// null, which is rejected as "expected a mapping of keys" - and the error points at the next key
// after the section (here line 3, "storage:"), not at "log:" itself. ossa.yaml lists every key with
// its default, so commenting a whole section out is the natural edit; it should mean "all
// defaults".
TEST(Config, SectionWithEveryKeyCommentedOutMeansDefaults) {
  try {
    const Config c = load_config_text("log:\n  # level: debug\n" + kPaths, kOrigin);
    EXPECT_EQ(c.log.level, LogLevel::kInfo);
  } catch (const ConfigError& e) {
    ADD_FAILURE() << e.what();
  }
}

}  // namespace

TEST(Config, Nodes) {
  const Config cfg = load_config_text(
      kPaths +
          "nodes:\n"
          "  - {name: VIEWER, aet: VIEWER1, host: 10.0.0.5, port: 11112}\n"
          "  - {aet: PACS2, host: pacs2.example, port: 104, move_destination: false, query: true,"
          " retrieve: true, send: true}\n",
      kOrigin);
  ASSERT_EQ(cfg.nodes.size(), 2u);
  EXPECT_EQ(cfg.nodes[0].name, "VIEWER");
  EXPECT_EQ(cfg.nodes[0].aet, "VIEWER1");
  EXPECT_EQ(cfg.nodes[0].host, "10.0.0.5");
  EXPECT_EQ(cfg.nodes[0].port, 11112);
  EXPECT_TRUE(cfg.nodes[0].move_destination);
  EXPECT_FALSE(cfg.nodes[0].query);
  EXPECT_EQ(cfg.nodes[1].name, "PACS2");  // defaults to the AE title
  EXPECT_FALSE(cfg.nodes[1].move_destination);
  EXPECT_TRUE(cfg.nodes[1].query && cfg.nodes[1].retrieve && cfg.nodes[1].send);
}

TEST(Config, NodeErrorsAreLocated) {
  auto e = load_error(kPaths + "nodes:\n  - {aet: A, host: h}\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "nodes[0].port");
  e = load_error(kPaths + "nodes:\n  - {aet: A, host: h, port: 1, query: maybe}\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "nodes[0].query");
  e = load_error(kPaths +
                 "nodes:\n  - {aet: A, host: h, port: 1}\n  - {aet: A, host: g, port: 2}\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "nodes[1].aet");
  EXPECT_EQ(e->line(), 7);
  e = load_error(kPaths + "nodes:\n  - {aet: A, host: h, port: 1, colour: red}\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "nodes[0].colour");
}

// --- http: and watchdog: (the HTTP server and `ossa watchdog`) ---

TEST(Config, HttpAndWatchdogDefaults) {
  const Config c = load_config_text(kPaths, kOrigin);
  EXPECT_EQ(c.http.port, 3333);
  EXPECT_EQ(c.http.bind, "127.0.0.1");
  EXPECT_EQ(c.http.max_request_mb, 16u);
  EXPECT_EQ(c.watchdog.interval_seconds, 10);
  EXPECT_EQ(c.watchdog.timeout_seconds, 5);
  EXPECT_EQ(c.watchdog.failures_before_restart, 3);
  EXPECT_EQ(c.watchdog.grace_seconds, 45);
  EXPECT_EQ(c.watchdog.startup_seconds, 120);
  EXPECT_EQ(c.watchdog.max_backoff_seconds, 60);
}

TEST(Config, HttpAndWatchdogEveryKeySet) {
  const Config c = load_config_text(kPaths +
                                        "http:\n  port: 8042\n  bind: '::1'\n  max_request_mb: 2\n"
                                        "watchdog:\n  interval_seconds: 2\n  timeout_seconds: 1\n"
                                        "  failures_before_restart: 4\n  grace_seconds: 7\n"
                                        "  startup_seconds: 0\n  max_backoff_seconds: 9\n",
                                    kOrigin);
  EXPECT_EQ(c.http.port, 8042);
  EXPECT_EQ(c.http.bind, "::1");
  EXPECT_EQ(c.http.max_request_mb, 2u);
  EXPECT_EQ(c.watchdog.interval_seconds, 2);
  EXPECT_EQ(c.watchdog.timeout_seconds, 1);
  EXPECT_EQ(c.watchdog.failures_before_restart, 4);
  EXPECT_EQ(c.watchdog.grace_seconds, 7);
  EXPECT_EQ(c.watchdog.startup_seconds, 0);
  EXPECT_EQ(c.watchdog.max_backoff_seconds, 9);
  EXPECT_EQ(load_config_text(kPaths + "http:\n  bind: 0.0.0.0\n", kOrigin).http.bind, "0.0.0.0");
}

TEST(Config, HttpAndWatchdogErrorsAreLocated) {
  struct Case {
    std::string yaml;
    std::string key;
    std::string says;
  };
  const Case cases[] = {
      {"http:\n  port: 0\n", "http.port", "1 to 65535"},
      {"http:\n  port: 65536\n", "http.port", "1 to 65535"},
      {"http:\n  port: web\n", "http.port", "whole number"},
      {"http:\n  bind: localhost\n", "http.bind", "numeric IP address"},
      {"http:\n  bind: 10.0.0.300\n", "http.bind", "numeric IP address"},
      {"http:\n  bind: [a]\n", "http.bind", "text value"},
      {"http:\n  max_request_mb: 0\n", "http.max_request_mb", "1 to 65536"},
      {"http:\n  colour: red\n", "http.colour", "unknown key"},
      {"http: 3333\n", "http", "mapping"},
      {"watchdog:\n  interval_seconds: 0\n", "watchdog.interval_seconds", "1 to 3600"},
      {"watchdog:\n  timeout_seconds: 601\n", "watchdog.timeout_seconds", "1 to 600"},
      {"watchdog:\n  failures_before_restart: 0\n", "watchdog.failures_before_restart",
       "1 to 1000"},
      {"watchdog:\n  grace_seconds: -1\n", "watchdog.grace_seconds", "1 to 3600"},
      {"watchdog:\n  startup_seconds: x\n", "watchdog.startup_seconds", "whole number"},
      {"watchdog:\n  max_backoff_seconds: 0\n", "watchdog.max_backoff_seconds", "1 to 86400"},
      {"watchdog:\n  interval: 5\n", "watchdog.interval", "unknown key"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    const auto e = load_error(kPaths + c.yaml);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->key(), c.key);
    EXPECT_GE(e->line(), 5);  // located in the section after kPaths' four lines
    EXPECT_NE(e->message().find(c.says), std::string::npos) << e->message();
  }
}

TEST(Config, RepositoryFileDocumentsHttpAndWatchdog) {
  const Config c = load_config_file(fs::path(OSSA_SOURCE_DIR) / "config" / "ossa.yaml");
  EXPECT_EQ(c.http.port, 3333);
  EXPECT_EQ(c.http.bind, "127.0.0.1");
  EXPECT_EQ(c.watchdog.failures_before_restart, 3);
  EXPECT_EQ(c.watchdog.grace_seconds, 45);
}

TEST(Config, JobsSendShare) {
  EXPECT_EQ(load_config_text(kPaths, kOrigin).jobs.send_share_while_ingesting, 5);
  EXPECT_EQ(load_config_text(kPaths + "jobs:\n  send_share_while_ingesting: 100\n", kOrigin)
                .jobs.send_share_while_ingesting,
            100);
  EXPECT_EQ(load_config_file(fs::path(OSSA_SOURCE_DIR) / "config" / "ossa.yaml")
                .jobs.send_share_while_ingesting,
            5);
  for (const char* bad :
       {"jobs:\n  send_share_while_ingesting: 0\n", "jobs:\n  send_share_while_ingesting: 101\n"}) {
    const auto e = load_error(kPaths + bad);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->key(), "jobs.send_share_while_ingesting");
    EXPECT_EQ(e->line(), 6);
    EXPECT_NE(e->message().find("1 to 100"), std::string::npos) << e->message();
  }
  const auto unknown = load_error(kPaths + "jobs:\n  workers: 4\n");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->key(), "jobs.workers");
}

// ---- xmlrpc: section ----------------------------------------------------------------------------

TEST(ConfigXmlRpc, Defaults) {
  const Config c = load_config_text(kPaths, kOrigin);
  EXPECT_TRUE(c.xmlrpc.enabled);
  EXPECT_EQ(c.xmlrpc.port, 8080);
  EXPECT_EQ(c.xmlrpc.bind, "127.0.0.1");
  EXPECT_EQ(c.xmlrpc.token, "");
  EXPECT_EQ(c.xmlrpc.max_request_bytes, 1u << 20);
  EXPECT_EQ(c.xmlrpc.max_download_mb, 2048u);
}

TEST(ConfigXmlRpc, EveryKeySet) {
  const Config c = load_config_text(kPaths +
                                        "xmlrpc:\n  enabled: false\n  port: 9090\n  bind: 0.0.0.0\n"
                                        "  token: abcdefghijklmnop\n  max_request_bytes: 4096\n"
                                        "  max_download_mb: 10\n",
                                    kOrigin);
  EXPECT_FALSE(c.xmlrpc.enabled);
  EXPECT_EQ(c.xmlrpc.port, 9090);
  EXPECT_EQ(c.xmlrpc.bind, "0.0.0.0");
  EXPECT_EQ(c.xmlrpc.token, "abcdefghijklmnop");
  EXPECT_EQ(c.xmlrpc.max_request_bytes, 4096u);
  EXPECT_EQ(c.xmlrpc.max_download_mb, 10u);
}

TEST(ConfigXmlRpc, LoopbackNeedsNoToken) {
  for (const char* bind : {"127.0.0.1", "127.1.2.3", "::1", "localhost"}) {
    const Config c =
        load_config_text(kPaths + "xmlrpc:\n  bind: \"" + std::string(bind) + "\"\n", kOrigin);
    EXPECT_EQ(c.xmlrpc.bind, bind);
  }
  // Disabled: no port is opened, so no token is needed either.
  EXPECT_NO_THROW(
      load_config_text(kPaths + "xmlrpc:\n  enabled: false\n  bind: 0.0.0.0\n", kOrigin));
}

TEST(ConfigXmlRpc, NonLoopbackBindWithoutTokenIsRefused) {
  const auto e = load_error(kPaths + "xmlrpc:\n  bind: 0.0.0.0\n");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->key(), "xmlrpc.token");
  EXPECT_NE(e->message().find("not a loopback address"), std::string::npos) << e->what();
  EXPECT_TRUE(load_error(kPaths + "xmlrpc:\n  bind: 192.168.1.10\n  token: \"\"\n"));
}

TEST(ConfigXmlRpc, BadValuesAreLocated) {
  struct Case {
    std::string yaml, key;
  };
  const std::vector<Case> cases = {
      {"xmlrpc:\n  port: 0\n", "xmlrpc.port"},
      {"xmlrpc:\n  port: 70000\n", "xmlrpc.port"},
      {"xmlrpc:\n  bind: pacs.example.org\n", "xmlrpc.bind"},
      {"xmlrpc:\n  token: short\n", "xmlrpc.token"},
      {"xmlrpc:\n  token: \"has spaces in the token\"\n", "xmlrpc.token"},
      {"xmlrpc:\n  max_request_bytes: 10\n", "xmlrpc.max_request_bytes"},
      {"xmlrpc:\n  max_request_bytes: 999999999999\n", "xmlrpc.max_request_bytes"},
      {"xmlrpc:\n  max_download_mb: 0\n", "xmlrpc.max_download_mb"},
      {"xmlrpc:\n  enabled: maybe\n", "xmlrpc.enabled"},
      {"xmlrpc:\n  tokn: abcdefghijklmnopq\n", "xmlrpc.tokn"},
  };
  for (const auto& c : cases) {
    const auto e = load_error(kPaths + c.yaml);
    ASSERT_TRUE(e) << c.yaml;
    EXPECT_EQ(e->key(), c.key) << e->what();
    EXPECT_GT(e->line(), 0) << e->what();
  }
}
