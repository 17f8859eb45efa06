// The Ossa plugin template: one small example of each hook and of the SDK's habits.
//
//   on_received  fills InstitutionName (0008,0080) from the config when an instance has none or an
//                empty one; optionally refuses instances without a Patient ID.
//   on_stored    logs each stored instance with its change-log sequence number, and counts.
//   on_stable    logs a study that stopped receiving instances.
//   method       "template.stats": the counts as JSON.
//   timer        logs the counts every `report_seconds` when they changed.
//
// Config (the `config:` of the plugin's entry in ossa.yaml), every key optional:
//   institution: "St. Elsewhere"   value for an absent or empty InstitutionName
//   require_patient_id: false      refuse (0xA900) instances without a Patient ID
//   report_seconds: 300            period of the timer's log line
//
// Hooks run on host threads (see each registration in ossa/sdk.hpp): on_received on several
// association threads at once, the method on any thread; so the counters are atomics and
// everything else is set in init and only read afterwards.

#include <ossa/sdk.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace {

constexpr uint32_t kInstitutionName = ossa::sdk::tag(0x0008, 0x0080);
constexpr uint32_t kPatientId = ossa::sdk::tag(0x0010, 0x0020);
constexpr uint16_t kStatusDoesNotMatchSopClass = 0xA900;

class TemplatePlugin : public ossa::sdk::Plugin {
 public:
  void init(ossa::sdk::Host& host) override {
    // A config that is not JSON, or a key of the wrong type, throws: the SDK logs it and the host
    // does not load the plugin.
    const auto config = nlohmann::json::parse(host.config());
    institution_ = config.value("institution", std::string());
    require_patient_id_ = config.value("require_patient_id", false);
    const int report_seconds = config.value("report_seconds", 300);

    host.on_received([this](ossa::sdk::Dataset& dataset, const ossa::sdk::InstanceEvent& event) {
      return on_received(dataset, event);
    });
    host.on_stored([this](const ossa::sdk::InstanceEvent& event) { on_stored(event); });
    host.on_stable([this](const ossa::sdk::StableEvent& event) { on_stable(event); });
    host.method("template.stats",
                [this](std::string_view /*params_json*/) { return stats().dump(); });
    host.timer(std::chrono::seconds(report_seconds), [this] { report(); });

    host.info("ready: institution \"" + institution_ + "\", require_patient_id " +
              (require_patient_id_ ? "true" : "false"));
  }

  void shutdown() override { host().info("shutting down: " + stats().dump()); }

 private:
  std::optional<uint16_t> on_received(ossa::sdk::Dataset& dataset,
                                      const ossa::sdk::InstanceEvent& event) {
    received_++;
    if (require_patient_id_ && dataset.get(kPatientId).value_or("").empty()) {
      host().warning("refusing " + std::string(event.sop_instance_uid) + " from " +
                     std::string(event.calling_aet) + ": no Patient ID");
      return kStatusDoesNotMatchSopClass;
    }
    if (!institution_.empty() && dataset.get(kInstitutionName).value_or("").empty()) {
      dataset.set(kInstitutionName, institution_);
      coerced_++;
      host().debug("set InstitutionName of " + std::string(event.sop_instance_uid));
    }
    return std::nullopt;  // accept
  }

  void on_stored(const ossa::sdk::InstanceEvent& event) {
    stored_++;
    last_sequence_ = event.sequence;
    host().info("stored #" + std::to_string(event.sequence) + " " +
                std::string(event.sop_instance_uid) + " (patient " + std::string(event.patient_id) +
                ") from " + std::string(event.calling_aet));
  }

  void on_stable(const ossa::sdk::StableEvent& event) {
    stable_++;
    host().info(std::string(event.level) + " " + std::string(event.study_instance_uid) +
                " is stable");
  }

  // Timer: one call at a time, so last_report_ needs no lock.
  void report() {
    const std::string now = stats().dump();
    if (now == last_report_) return;
    last_report_ = now;
    host().info("stats: " + now);
  }

  nlohmann::json stats() const {
    return {{"received", received_.load()},
            {"coerced", coerced_.load()},
            {"stored", stored_.load()},
            {"stable", stable_.load()},
            {"last_sequence", last_sequence_.load()}};
  }

  // Set in init, read-only afterwards.
  std::string institution_;
  bool require_patient_id_ = false;
  // Updated from several threads.
  std::atomic<uint64_t> received_{0}, coerced_{0}, stored_{0}, stable_{0};
  std::atomic<int64_t> last_sequence_{0};
  // Timer thread only.
  std::string last_report_;
};

}  // namespace

OSSA_PLUGIN(TemplatePlugin, "template", "1.0.0",
            "Template: fills InstitutionName, logs stored instances, counts")
