#include "config.h"

#include <gtest/gtest.h>

namespace ossa::emr {
namespace {

std::string parse_error(const std::string& json) {
  EmrConfig c;
  std::string error;
  EXPECT_FALSE(parse_config(json, c, error)) << json;
  return error;
}

TEST(EmrConfig, FhirWithDefaults) {
  EmrConfig c;
  std::string error;
  ASSERT_TRUE(parse_config(R"({"source": "fhir", "fhir": {"base_url": "http://emr:8080/fhir",
      "issuer_systems": {"HOSP": "urn:oid:1.2"}}})",
                           c, error))
      << error;
  EXPECT_EQ(c.source, SourceKind::kFhir);
  EXPECT_EQ(c.fhir.issuer_systems.at("HOSP"), "urn:oid:1.2");
  EXPECT_EQ(c.timeout.count(), 2000);
  EXPECT_EQ(c.on_unreachable, UnreachablePolicy::kStoreUnchanged);
  EXPECT_EQ(c.reject_status, 0xA700);
  EXPECT_TRUE(c.coerce.patient_name && c.coerce.birth_date && c.coerce.sex && c.coerce.other_ids);
}

TEST(EmrConfig, SqlWithEveryOption) {
  EmrConfig c;
  std::string error;
  ASSERT_TRUE(parse_config(R"({"source": "sql", "sql": {"conninfo": "host=/tmp dbname=emr",
      "query": "SELECT name FROM p WHERE id = $1 AND issuer = $2"}, "use_issuer": true,
      "timeout_ms": "750", "cache": {"ttl_seconds": 10, "negative_ttl_seconds": 0,
      "max_entries": 3}, "on_unreachable": "reject", "reject_status": "0xA701",
      "retry_unreachable_after_ms": 0, "coerce": ["PatientName", "PatientSex"]})",
                           c, error))
      << error;
  EXPECT_EQ(c.source, SourceKind::kSql);
  EXPECT_TRUE(c.use_issuer);
  EXPECT_EQ(c.timeout.count(), 750);
  EXPECT_EQ(c.positive_ttl.count(), 10000);
  EXPECT_EQ(c.negative_ttl.count(), 0);
  EXPECT_EQ(c.cache_entries, 3u);
  EXPECT_EQ(c.on_unreachable, UnreachablePolicy::kReject);
  EXPECT_EQ(c.reject_status, 0xA701);
  EXPECT_EQ(c.retry_unreachable_after.count(), 0);
  EXPECT_TRUE(c.coerce.patient_name && c.coerce.sex);
  EXPECT_FALSE(c.coerce.birth_date || c.coerce.other_ids);
}

TEST(EmrConfig, BadConfigurationsAreRefusedWithAReason) {
  EXPECT_NE(parse_error("{}").find("source"), std::string::npos);
  EXPECT_NE(parse_error(R"({"source": "fhir"})").find("fhir"), std::string::npos);
  EXPECT_NE(parse_error(R"({"source": "fhir", "fhir": {"base_url": "ftp://x"}})").find("http"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"source": "fhir", "fhir": {"base_url": "http://x"}, "tmeout_ms": 1})")
                .find("tmeout_ms"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"source": "sql", "sql": {"query": "SELECT 1"}})").find("$1"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"source": "fhir", "fhir": {"base_url": "http://x"},
      "reject_status": "0xC000"})")
                .find("reject_status"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"source": "fhir", "fhir": {"base_url": "http://x"},
      "on_unreachable": "ignore"})")
                .find("on_unreachable"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"source": "fhir", "fhir": {"base_url": "http://x"},
      "coerce": ["PatientAge"]})")
                .find("PatientAge"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"source": "fhir", "fhir": {"base_url": "http://x",
      "bearer_token_env": "OSSA_EMR_TEST_UNSET_VARIABLE"}})")
                .find("not set"),
            std::string::npos);
  EXPECT_NE(parse_error("not json").size(), 0u);
}

}  // namespace
}  // namespace ossa::emr
