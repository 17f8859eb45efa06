// The routing plugin: forwards instances and studies to other DICOM nodes by rules (README.md).
// This file is the glue between the SDK's Host and the host-independent Router.

#include <ossa/sdk.hpp>

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "router.h"
#include "rules.h"

namespace {

using ossa::routing::HostPort;
using ossa::routing::LogLevel;
using ossa::routing::Router;
using ossa::routing::RoutingConfig;

class SdkHostPort final : public HostPort {
 public:
  explicit SdkHostPort(ossa::sdk::Host& host) : host_(host) {}

  void log(LogLevel level, const std::string& message) override {
    switch (level) {
      case LogLevel::kDebug:
        host_.debug(message);
        break;
      case LogLevel::kInfo:
        host_.info(message);
        break;
      case LogLevel::kWarning:
        host_.warning(message);
        break;
      case LogLevel::kError:
        host_.error(message);
        break;
    }
  }

  int64_t queue_send(const std::string& node, const std::string& level,
                     const std::string& keys) override {
    try {
      return host_.queue_send(node, level, keys);
    } catch (const ossa::sdk::Error& e) {
      return -static_cast<int64_t>(e.status() != OSSA_OK ? e.status() : OSSA_ERROR);
    }
  }

  std::optional<nlohmann::json> index_find(const nlohmann::json& query) override {
    try {
      return nlohmann::json::parse(host_.index_find(query.dump()));
    } catch (const std::exception& e) {
      host_.error(std::string("index_find: ") + e.what());
      return std::nullopt;
    }
  }

 private:
  ossa::sdk::Host& host_;
};

ossa::routing::InstanceEvent convert(const ossa::sdk::InstanceEvent& e) {
  ossa::routing::InstanceEvent out;
  out.sop_class_uid = std::string(e.sop_class_uid);
  out.sop_instance_uid = std::string(e.sop_instance_uid);
  out.series_instance_uid = std::string(e.series_instance_uid);
  out.study_instance_uid = std::string(e.study_instance_uid);
  out.patient_id = std::string(e.patient_id);
  out.calling_aet = std::string(e.calling_aet);
  out.called_aet = std::string(e.called_aet);
  out.sequence = e.sequence;
  return out;
}

class RoutingPlugin final : public ossa::sdk::Plugin {
 public:
  void init(ossa::sdk::Host& host) override {
    RoutingConfig config;
    std::string error;
    if (!ossa::routing::parse_config(host.config(), config, error))
      throw ossa::sdk::Error(OSSA_E_INVALID_ARGUMENT, "configuration: " + error);
    port_ = std::make_unique<SdkHostPort>(host);
    router_ = std::make_unique<Router>(std::move(config), *port_);
    // The host API has no list of declared nodes: an unknown destination shows at the first send
    // (queue_send answers OSSA_E_NOT_FOUND, logged as a warning).
    if (!router_->start(std::nullopt))
      throw ossa::sdk::Error(OSSA_ERROR, "cannot open the routing state");

    Router* router = router_.get();
    if (router->wants_received()) {
      host.on_received([router](ossa::sdk::Dataset& dataset, const ossa::sdk::InstanceEvent& e) {
        router->on_received(convert(e), [&dataset](uint32_t tag) { return dataset.get(tag); });
      });
    }
    if (router->wants_stored()) {
      host.on_stored([router](const ossa::sdk::InstanceEvent& e) {
        if (!router->on_stored(convert(e)))
          throw ossa::sdk::Error(OSSA_ERROR, "instance " + std::string(e.sop_instance_uid) +
                                                 ": no routing decision (index query failed)");
      });
    }
    if (router->wants_stable()) {
      host.on_stable([router](const ossa::sdk::StableEvent& e) {
        if (!router->on_stable(std::string(e.level), std::string(e.study_instance_uid)))
          throw ossa::sdk::Error(OSSA_ERROR, "stable study " + std::string(e.study_instance_uid) +
                                                 ": no routing decision (index query failed)");
      });
    }
    host.method("routing.status", [router](std::string_view) {
      const RoutingConfig& c = router->config();
      nlohmann::json rules = nlohmann::json::array();
      for (const auto& r : c.rules) {
        rules.push_back({{"name", r.name},
                         {"on", r.on == ossa::routing::Trigger::kStable ? "stable" : "received"},
                         {"forward_to", r.forward_to}});
      }
      return nlohmann::json{{"rules", rules},
                            {"pending_decisions", router->pending_decisions()},
                            {"state_dir", c.state_dir}}
          .dump();
    });
  }

 private:
  std::unique_ptr<SdkHostPort> port_;
  std::unique_ptr<Router> router_;
};

}  // namespace

OSSA_PLUGIN(RoutingPlugin, "routing", "1.0.0",
            "Forwards received instances and stable studies to other DICOM nodes by rules");
