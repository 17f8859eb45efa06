// The emr-lookup plugin: coerces patient demographics from an EMR (FHIR R4 or PostgreSQL) before
// storage (README.md). This file is the glue between the SDK's Host and the host-independent
// EmrLookup; the host records the received values in Original Attributes Sequence.

#include <ossa/sdk.hpp>

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "config.h"
#include "emr_lookup.h"
#include "fhir_source.h"
#include "sql_source.h"

namespace {

using ossa::emr::EmrConfig;
using ossa::emr::EmrLookup;
using ossa::emr::LogLevel;

std::unique_ptr<ossa::emr::EmrSource> make_source(const EmrConfig& config) {
  if (config.source == ossa::emr::SourceKind::kSql) {
    return std::make_unique<ossa::emr::SqlSource>(config.sql, config.use_issuer, config.timeout);
  }
  return std::make_unique<ossa::emr::FhirSource>(config.fhir);
}

class EmrLookupPlugin final : public ossa::sdk::Plugin {
 public:
  void init(ossa::sdk::Host& host) override {
    EmrConfig config;
    std::string error;
    if (!ossa::emr::parse_config(host.config(), config, error))
      throw ossa::sdk::Error(OSSA_E_INVALID_ARGUMENT, "configuration: " + error);
    std::unique_ptr<ossa::emr::EmrSource> source;
    try {
      source = make_source(config);
    } catch (const std::exception& e) {
      throw ossa::sdk::Error(OSSA_E_INVALID_ARGUMENT, std::string("configuration: ") + e.what());
    }
    ossa::sdk::Host* h = &host;
    lookup_ = std::make_unique<EmrLookup>(std::move(config), std::move(source),
                                          [h](LogLevel level, const std::string& message) {
                                            switch (level) {
                                              case LogLevel::kDebug:
                                                h->debug(message);
                                                break;
                                              case LogLevel::kInfo:
                                                h->info(message);
                                                break;
                                              case LogLevel::kWarning:
                                                h->warning(message);
                                                break;
                                              case LogLevel::kError:
                                                h->error(message);
                                                break;
                                            }
                                          });
    EmrLookup* lookup = lookup_.get();
    host.on_received([lookup](ossa::sdk::Dataset& dataset, const ossa::sdk::InstanceEvent& e) {
      ossa::emr::DatasetAccess access{
          [&dataset](uint32_t tag) { return dataset.get(tag); },
          [&dataset](uint32_t tag, const std::string& value) { dataset.set(tag, value); }};
      return lookup->on_received(access, std::string(e.sop_instance_uid));
    });
    host.method("emr-lookup.status", [lookup](std::string_view) {
      const ossa::emr::LookupCounters c = lookup->counters();
      return nlohmann::json{{"source", lookup->describe_source()},
                            {"cached_patients", lookup->cached()},
                            {"instances", c.instances},
                            {"cache_hits", c.cache_hits},
                            {"emr_requests", c.emr_requests},
                            {"found", c.found},
                            {"not_found", c.not_found},
                            {"unreachable", c.unreachable},
                            {"coerced", c.coerced},
                            {"rejected", c.rejected}}
          .dump();
    });
    host.info("looking patients up in " + lookup->describe_source() + " (timeout " +
              std::to_string(lookup->config().timeout.count()) + " ms, on_unreachable " +
              (lookup->config().on_unreachable == ossa::emr::UnreachablePolicy::kReject
                   ? "reject"
                   : "store_unchanged") +
              ")");
  }

 private:
  std::unique_ptr<EmrLookup> lookup_;
};

}  // namespace

OSSA_PLUGIN(EmrLookupPlugin, "emr-lookup", "1.0.0",
            "Coerces patient demographics from an EMR (FHIR R4 or PostgreSQL) before storage");
