// The worklist plugin: a Modality Worklist C-FIND SCP as a find provider (README.md). This file is
// the glue between the SDK's Host and the host-independent Worklist.

#include <ossa/sdk.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "worklist.h"

namespace {

using ossa::worklist::MethodError;
using ossa::worklist::Worklist;
using ossa::worklist::WorklistConfig;

constexpr const char* kModalityWorklistFind = "1.2.840.10008.5.1.4.31";

// A refused call becomes the contract's status (the SDK logs the message).
template <typename Body>
std::string method_call(Body&& body) {
  try {
    return body();
  } catch (const MethodError& e) {
    throw ossa::sdk::Error(
        e.kind() == MethodError::Kind::kNotFound ? OSSA_E_NOT_FOUND : OSSA_E_INVALID_ARGUMENT,
        e.what());
  }
}

class WorklistPlugin final : public ossa::sdk::Plugin {
 public:
  void init(ossa::sdk::Host& host) override {
    WorklistConfig config;
    std::string error;
    if (!ossa::worklist::parse_config(host.config(), config, error))
      throw ossa::sdk::Error(OSSA_E_INVALID_ARGUMENT, "configuration: " + error);
    worklist_ = std::make_unique<Worklist>(
        config,
        [&host](const std::string& query) -> std::optional<std::string> {
          try {
            return host.index_find(query);
          } catch (const std::exception& e) {
            host.error(std::string("index_find: ") + e.what());
            return std::nullopt;
          }
        },
        [&host](bool is_error, const std::string& message) {
          if (is_error) {
            host.error(message);
          } else {
            host.info(message);
          }
        });
    Worklist* w = worklist_.get();

    host.method("worklist.add", [w](std::string_view p) {
      return method_call([&] { return w->add(std::string(p)); });
    });
    host.method("worklist.update", [w](std::string_view p) {
      return method_call([&] { return w->update(std::string(p)); });
    });
    host.method("worklist.remove", [w](std::string_view p) {
      return method_call([&] { return w->remove(std::string(p)); });
    });
    host.method("worklist.list", [w](std::string_view p) {
      return method_call([&] { return w->list(std::string(p)); });
    });

    const std::optional<std::string_view> aet =
        config.called_aet.empty() ? std::nullopt
                                  : std::optional<std::string_view>(config.called_aet);
    host.find_provider_streaming(
        kModalityWorklistFind, aet, [w](std::string_view query, ossa::sdk::FindAnswers& answers) {
          w->find(std::string(query), [&answers](const std::string& a) { return answers.add(a); });
        });
    host.on_stable([w](const ossa::sdk::StableEvent& e) {
      if (e.level == "STUDY") w->study_stable(std::string(e.study_instance_uid));
    });
    host.timer(std::chrono::seconds(config.expiry_check_seconds), [w] { w->expire(); });
    w->expire();
    host.info("Modality Worklist on " +
              (config.called_aet.empty() ? std::string("any AE title") : config.called_aet) +
              ", entries in " + config.state_dir + ", expiring after " +
              std::to_string(config.expire_after_hours) + " h");
  }

 private:
  std::unique_ptr<Worklist> worklist_;
};

}  // namespace

OSSA_PLUGIN(WorklistPlugin, "worklist", "1.0.0",
            "Modality Worklist C-FIND SCP; entries from HL7 orders and XML-RPC methods")
