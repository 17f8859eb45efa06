// A plugin for the SDK's unit tests (sdk_test.cpp loads it with dlopen over a fake host). Each hook
// fails on demand, in the different ways a plugin can fail, so the tests can check that the SDK
// turns every failure into a log line and a status.
//
// Config (plain text, not JSON, to keep this file free of dependencies): contains "fail-init" to
// throw from init after registering hooks.

#include <ossa/sdk.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using ossa::sdk::Dataset;
using ossa::sdk::Error;
using ossa::sdk::InstanceEvent;
using ossa::sdk::StableEvent;
using ossa::sdk::tag;

constexpr uint32_t kPatientId = tag(0x0010, 0x0020);
constexpr uint32_t kInstitutionName = tag(0x0008, 0x0080);
constexpr uint32_t kStationName = tag(0x0008, 0x1010);

class TestPlugin : public ossa::sdk::Plugin {
 public:
  ~TestPlugin() override {
    if (initialised_) host().info("destroyed");
  }

  void init(ossa::sdk::Host& host) override {
    const std::string config = host.config();

    host.on_received([](Dataset& dataset, const InstanceEvent&) -> std::optional<uint16_t> {
      const std::string id = dataset.get(kPatientId).value_or("");
      if (id == "THROW") throw std::runtime_error("boom in on_received");
      if (id == "ERROR") throw Error(OSSA_E_NOT_FOUND, "an sdk error");
      if (id == "INT") throw 42;
      if (id == "REJECT") return 0xA700;
      dataset.set(kInstitutionName, "SDK TEST");
      dataset.remove(kStationName);
      return std::nullopt;
    });
    // A second on_received hook, returning void.
    host.on_received([this](Dataset&, const InstanceEvent&) { received_++; });
    host.on_stored([this](const InstanceEvent& event) {
      if (event.sop_instance_uid == "throw") throw std::runtime_error("boom in on_stored");
      stored_++;
      this->host().info("stored #" + std::to_string(event.sequence) + " " +
                        std::string(event.sop_instance_uid) + " from " +
                        std::string(event.calling_aet));
    });
    host.on_stable([](const StableEvent& event) {
      if (event.level == "SERIES") throw std::logic_error("boom in on_stable");
    });
    host.method("sdktest.echo", [](std::string_view params) {
      if (params == "\"throw\"") throw std::runtime_error("boom in sdktest.echo");
      return std::string(params);
    });
    // Uses the Host's services; its result lists what they returned.
    host.method("sdktest.services", [this](std::string_view) {
      auto& h = this->host();
      std::string out;
      out += "config=" + h.config();
      out += " echo=" + h.call_method("sdktest.echo", "[1]").value_or("?");
      out += " missing=" + std::string(h.call_method("nobody.nothing") ? "found" : "nullopt");
      out += " find=" + h.index_find("{\"level\":\"STUDY\",\"keys\":{}}");
      out += " job=" + std::to_string(h.queue_send("PACS", "STUDY", {"1.2.3", "1.2.4"}));
      out += " status=" + h.job_status(7).value_or("none");
      out += " nojob=" + h.job_status(99).value_or("none");
      return out;
    });
    host.method("sdktest.late", [this](std::string_view) {
      this->host().timer(std::chrono::seconds(1), [] {});
      return std::string("registered");
    });
    host.find_provider("1.2.840.10008.5.1.4.31", std::nullopt, [](std::string_view query) {
      if (query.find("throw") != std::string_view::npos) throw std::runtime_error("boom in find");
      return std::vector<std::string>{R"({"PatientID":"A"})", R"({"PatientID":"B"})"};
    });
    host.find_provider("1.2.840.10008.5.1.4.31", "RIS",
                       [](std::string_view) { return std::vector<std::string>{}; });
    host.timer(std::chrono::milliseconds(250), [this] {
      if (ticks_++ % 2 == 0) throw std::runtime_error("boom in timer");
    });

    if (config.find("fail-init") != std::string::npos) {
      throw std::runtime_error("init refused by its config");
    }
    initialised_ = true;
  }

  void shutdown() override {
    host().info("shutdown: received " + std::to_string(received_) + ", stored " +
                std::to_string(stored_));
  }

 private:
  bool initialised_ = false;
  std::atomic<int> received_{0}, stored_{0};
  int ticks_ = 0;
};

}  // namespace

OSSA_PLUGIN(TestPlugin, "sdktest", "0.0.1", "Unit-test plugin of the Ossa SDK");
