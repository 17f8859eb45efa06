// The plugin's configuration: defaults, validation, clear errors.

#include "config.h"

#include <gtest/gtest.h>

namespace {

using ossa::hl7::Hl7Config;
using ossa::hl7::parse_config;

TEST(Config, DefaultsNeedOnlyAStateDir) {
  Hl7Config c;
  std::string error;
  ASSERT_TRUE(parse_config(R"({"state_dir": "/tmp/x"})", c, error)) << error;
  EXPECT_EQ(c.listener.port, 2575);
  EXPECT_EQ(c.listener.bind, "127.0.0.1");
  EXPECT_TRUE(c.listener.allowed_peers.empty());
  EXPECT_EQ(c.listener.max_message_bytes, 1024u * 1024u);
  EXPECT_EQ(c.processor.default_charset, "ASCII");
  EXPECT_EQ(c.journal_keep_days, 90);
}

TEST(Config, AllKeys) {
  Hl7Config c;
  std::string error;
  ASSERT_TRUE(parse_config(R"({"state_dir": "s", "port": "2600", "bind": "0.0.0.0",
      "allowed_peers": ["10.0.0.1", "::1"], "max_message_bytes": 2048, "idle_timeout_seconds": 5,
      "max_connections": 3, "application": "PACS", "default_charset": "8859/1",
      "patient_id_authority": "MAIN", "scheduled_station_aet": "CT1", "journal_keep_days": 0})",
                           c, error))
      << error;
  EXPECT_EQ(c.listener.port, 2600);
  EXPECT_EQ(c.listener.allowed_peers.size(), 2u);
  EXPECT_EQ(c.listener.max_connections, 3u);
  EXPECT_EQ(c.processor.application, "PACS");
  EXPECT_EQ(c.processor.mapping.patient_id_authority, "MAIN");
  EXPECT_EQ(c.processor.mapping.scheduled_station_aet, "CT1");
  EXPECT_EQ(c.journal_keep_days, 0);
}

TEST(Config, Errors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({})", "state_dir"},
      {R"({"state_dir": "s", "port": 70000})", "port"},
      {R"({"state_dir": "s", "port": "x"})", "port"},
      {R"({"state_dir": "s", "allowed_peers": ["not-an-ip"]})", "not-an-ip"},
      {R"({"state_dir": "s", "allowed_peers": "10.0.0.1"})", "allowed_peers"},
      {R"({"state_dir": "s", "default_charset": "KLINGON"})", "KLINGON"},
      {R"({"state_dir": "s", "prot": 1})", "prot"},
      {R"([1])", "mapping"},
      {R"(nope)", "JSON"},
  };
  for (const auto& [json, word] : cases) {
    Hl7Config c;
    std::string error;
    EXPECT_FALSE(parse_config(json, c, error)) << json;
    EXPECT_NE(error.find(word), std::string::npos) << json << " -> " << error;
  }
}

}  // namespace
