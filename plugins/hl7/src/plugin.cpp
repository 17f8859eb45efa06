// The HL7 plugin: an MLLP listener that applies ADT and ORM/OMI messages to the archive (patient
// demographics and merges) and to the worklist plugin, and acknowledges each message (README.md).
// This file is the glue between the SDK's Host and the host-independent parts.

#include <ossa/sdk.hpp>

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "config.h"
#include "journal.h"
#include "listener.h"
#include "processor.h"

namespace {

using ossa::hl7::HostStatus;
using ossa::hl7::LogLevel;

HostStatus status_of(ossa_status s) {
  switch (s) {
    case OSSA_OK:
      return HostStatus::kOk;
    case OSSA_E_NOT_FOUND:
      return HostStatus::kNotFound;
    case OSSA_E_INVALID_ARGUMENT:
      return HostStatus::kInvalid;
    default:
      return HostStatus::kError;
  }
}

void forward_log(const ossa::sdk::Host& host, LogLevel level, const std::string& message) {
  switch (level) {
    case LogLevel::kDebug:
      host.debug(message);
      break;
    case LogLevel::kInfo:
      host.info(message);
      break;
    case LogLevel::kWarning:
      host.warning(message);
      break;
    case LogLevel::kError:
      host.error(message);
      break;
  }
}

class SdkHostPort final : public ossa::hl7::HostPort {
 public:
  explicit SdkHostPort(ossa::sdk::Host& host) : host_(host) {}

  HostStatus update_patient(const std::string& id, const std::string& json) override {
    return status_of(host_.api()->update_patient(host_.handle(), id.c_str(), json.c_str()));
  }
  HostStatus merge_patient(const std::string& old_id, const std::string& new_id) override {
    return status_of(host_.api()->merge_patient(host_.handle(), old_id.c_str(), new_id.c_str()));
  }
  HostStatus call_method(const std::string& name, const std::string& params,
                         std::string& result) override {
    char* answer = nullptr;
    const ossa_status s =
        host_.api()->call_method(host_.handle(), name.c_str(), params.c_str(), &answer);
    if (answer != nullptr) {
      result = answer;
      host_.api()->free(answer);
    }
    return status_of(s);
  }
  void log(LogLevel level, const std::string& message) override {
    forward_log(host_, level, message);
  }

 private:
  ossa::sdk::Host& host_;
};

class Hl7Plugin final : public ossa::sdk::Plugin {
 public:
  void init(ossa::sdk::Host& host) override {
    ossa::hl7::Hl7Config config;
    std::string error;
    if (!ossa::hl7::parse_config(host.config(), config, error))
      throw ossa::sdk::Error(OSSA_E_INVALID_ARGUMENT, "configuration: " + error);
    if (!journal_.open(config.state_dir, error)) throw ossa::sdk::Error(OSSA_ERROR, error);
    keep_days_ = config.journal_keep_days;
    journal_.prune(keep_days_);
    port_ = std::make_unique<SdkHostPort>(host);
    processor_ = std::make_unique<ossa::hl7::Processor>(config.processor, journal_, *port_);

    ossa::hl7::Processor* processor = processor_.get();
    ossa::hl7::ListenerCallbacks callbacks;
    callbacks.on_message = [processor](const std::string& message, const std::string& peer) {
      return processor->handle(message, peer);
    };
    callbacks.on_framing_error = [processor](const std::string& data, const std::string& peer,
                                             const std::string& problem) {
      return processor->framing_error(data, peer, problem);
    };
    callbacks.log = [&host](LogLevel level, const std::string& message) {
      forward_log(host, level, message);
    };
    if (!listener_.start(config.listener, std::move(callbacks), error))
      throw ossa::sdk::Error(OSSA_ERROR, error);
    host.info("MLLP listener on " + config.listener.bind + ":" + std::to_string(listener_.port()) +
              ", journal in " + config.state_dir);

    ossa::hl7::Journal* journal = &journal_;
    ossa::hl7::Listener* listener = &listener_;
    host.method("hl7.status", [processor, journal, listener](std::string_view) {
      return nlohmann::json{{"port", listener->port()},
                            {"messages_handled", processor->handled()},
                            {"journalled", journal->count()}}
          .dump();
    });
    const int keep = keep_days_;
    host.timer(std::chrono::hours(1), [journal, keep, &host] {
      const int64_t pruned = journal->prune(keep);
      if (pruned > 0) host.info("journal: " + std::to_string(pruned) + " old message(s) pruned");
    });
  }

  void shutdown() override {
    listener_.stop();
    journal_.close();
  }

 private:
  // Declaration order is destruction order reversed: the listener (its threads use the
  // processor, the port and the journal) stops first.
  ossa::hl7::Journal journal_;
  std::unique_ptr<SdkHostPort> port_;
  std::unique_ptr<ossa::hl7::Processor> processor_;
  ossa::hl7::Listener listener_;
  int keep_days_ = 90;
};

}  // namespace

OSSA_PLUGIN(Hl7Plugin, "hl7", "1.0.0",
            "HL7 v2 over MLLP: ADT demographics and merges, ORM/OMI orders to the worklist");
