// Unit tests of the Ossa SDK (sdk/include/ossa/sdk.hpp) over a fake host: this file plays the
// host, with its own ossa_host_api table. Two parts:
//   - Host and Dataset used directly: the services' mapping of results and errors, memory freed;
//   - a plugin built with ossa_add_plugin (test_plugin.cpp), loaded with dlopen as the server does:
//     the exports, init/shutdown, every hook kind called through the C ABI, and every way a hook
//     can fail caught at the boundary and logged.

#include <ossa/sdk.hpp>

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

// The handles, as this fake host defines them.
struct ossa_host {
  int id;
};
struct ossa_dataset {
  std::map<uint32_t, std::string> values;
};
struct ossa_result {
  std::string json;
  bool set = false;
};
struct ossa_find_answers {
  std::vector<std::string> answers;
};

namespace {

using ossa::sdk::tag;

// ---- The fake host
// --------------------------------------------------------------------------------

struct Registered {
  void* function;
  void* user;
  std::string name;      // method name / find SOP class
  const char* aet_arg;   // find provider: the called_aet pointer as given (NULL = any)
  std::string aet;       // ... and its text
  uint32_t interval_ms;  // timer
};

struct Fake {
  std::mutex mutex;
  std::vector<std::pair<ossa_log_level, std::string>> logs;
  std::string config = "{}";
  bool registration_open = true;
  std::vector<Registered> received, stored, stable, methods, finds, timers;
  std::vector<std::string> calls;   // service calls, as text
  std::atomic<int> outstanding{0};  // host strings not yet freed

  bool logged(const std::string& needle) {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& [level, line] : logs) {
      if (line.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  bool registered_nothing() const {
    return received.empty() && stored.empty() && stable.empty() && methods.empty() &&
           finds.empty() && timers.empty();
  }
  std::string all_logs() {
    std::lock_guard<std::mutex> lock(mutex);
    std::string out;
    for (const auto& [level, line] : logs) out += std::to_string(level) + " " + line + "\n";
    return out;
  }
};

Fake* g_fake = nullptr;

char* host_strdup(const std::string& text) {
  char* copy = static_cast<char*>(std::malloc(text.size() + 1));
  std::memcpy(copy, text.c_str(), text.size() + 1);
  g_fake->outstanding++;
  return copy;
}

void fake_log(ossa_host*, ossa_log_level level, const char* message) {
  std::lock_guard<std::mutex> lock(g_fake->mutex);
  g_fake->logs.emplace_back(level, message);
}
void fake_free(void* memory) {
  if (memory == nullptr) return;
  g_fake->outstanding--;
  std::free(memory);
}

ossa_status add(std::vector<Registered>& list, Registered r) {
  if (!g_fake->registration_open) return OSSA_E_WRONG_TIME;
  list.push_back(std::move(r));
  return OSSA_OK;
}
ossa_status fake_register_on_received(ossa_host*, ossa_on_received_fn f, void* user) {
  return add(g_fake->received, {reinterpret_cast<void*>(f), user, "", nullptr, "", 0});
}
ossa_status fake_register_on_stored(ossa_host*, ossa_on_stored_fn f, void* user) {
  return add(g_fake->stored, {reinterpret_cast<void*>(f), user, "", nullptr, "", 0});
}
ossa_status fake_register_on_stable(ossa_host*, ossa_on_stable_fn f, void* user) {
  return add(g_fake->stable, {reinterpret_cast<void*>(f), user, "", nullptr, "", 0});
}
ossa_status fake_register_method(ossa_host*, const char* name, ossa_method_fn f, void* user) {
  for (const auto& m : g_fake->methods) {
    if (m.name == name) return OSSA_E_INVALID_ARGUMENT;
  }
  return add(g_fake->methods, {reinterpret_cast<void*>(f), user, name, nullptr, "", 0});
}
ossa_status fake_register_find_provider(ossa_host*, const char* sop, const char* aet,
                                        ossa_find_fn f, void* user) {
  return add(g_fake->finds,
             {reinterpret_cast<void*>(f), user, sop, aet, aet != nullptr ? aet : "", 0});
}
ossa_status fake_register_timer(ossa_host*, uint32_t interval, ossa_timer_fn f, void* user) {
  return add(g_fake->timers, {reinterpret_cast<void*>(f), user, "", nullptr, "", interval});
}

char* fake_dataset_get(ossa_dataset* d, uint32_t t) {
  auto it = d->values.find(t);
  return it == d->values.end() ? nullptr : host_strdup(it->second);
}
ossa_status fake_dataset_set(ossa_dataset* d, uint32_t t, const char* value) {
  if (std::string(value) == "REFUSE") return OSSA_E_INVALID_ARGUMENT;
  d->values[t] = value;
  return OSSA_OK;
}
ossa_status fake_dataset_remove(ossa_dataset* d, uint32_t t) {
  return d->values.erase(t) ? OSSA_OK : OSSA_E_NOT_FOUND;
}
ossa_status fake_result_set(ossa_result* r, const char* json) {
  r->json = json;
  r->set = true;
  return OSSA_OK;
}
ossa_status fake_find_add(ossa_find_answers* a, const char* json) {
  a->answers.emplace_back(json);
  return OSSA_OK;
}
char* fake_config(ossa_host*) {
  return host_strdup(g_fake->config);
}

ossa_status fake_call_method(ossa_host*, const char* name, const char* params, char** result) {
  *result = nullptr;
  g_fake->calls.push_back(std::string("call ") + name + " " + params);
  if (std::string(name) == "echo") {
    *result = host_strdup(params);
    return OSSA_OK;
  }
  if (std::string(name) == "fail") return OSSA_ERROR;
  for (const auto& m : g_fake->methods) {
    if (m.name != name) continue;
    ossa_result r;
    const ossa_status status = reinterpret_cast<ossa_method_fn>(m.function)(m.user, params, &r);
    if (status == OSSA_OK) *result = host_strdup(r.json);
    return status;
  }
  return OSSA_E_NOT_FOUND;
}
char* fake_index_find(ossa_host*, const char* query) {
  g_fake->calls.push_back(std::string("find ") + query);
  return std::string(query) == "bad" ? nullptr : host_strdup("[]");
}
int64_t fake_queue_send(ossa_host*, const char* node, const char* level, const char* keys) {
  g_fake->calls.push_back(std::string("send ") + node + " " + level + " " + keys);
  if (std::string(node) == "nope") return -OSSA_E_NOT_FOUND;
  if (std::string(level) == "BAD") return -OSSA_E_INVALID_ARGUMENT;
  return 7;
}
int64_t fake_queue_retrieve(ossa_host*, const char* node, const char* level, const char* keys,
                            int32_t use_get) {
  g_fake->calls.push_back(std::string("retrieve ") + node + " " + level + " " + keys + " " +
                          std::to_string(use_get));
  return 8;
}
char* fake_job_status(ossa_host*, int64_t id) {
  return id == 7 ? host_strdup(R"({"id":7,"state":"done"})") : nullptr;
}
ossa_status fake_update_patient(ossa_host*, const char* id, const char* attributes) {
  g_fake->calls.push_back(std::string("update ") + id + " " + attributes);
  return std::string(id) == "unknown" ? OSSA_E_NOT_FOUND : OSSA_OK;
}
ossa_status fake_merge_patient(ossa_host*, const char* from, const char* to) {
  if (std::string(from) == to) return OSSA_E_INVALID_ARGUMENT;
  return std::string(from) == "unknown" ? OSSA_E_NOT_FOUND : OSSA_OK;
}

ossa_host_api make_table() {
  ossa_host_api api{};
  api.struct_size = sizeof(ossa_host_api);
  api.abi_major = OSSA_PLUGIN_ABI_MAJOR;
  api.abi_minor = OSSA_PLUGIN_ABI_MINOR;
  api.log = fake_log;
  api.free = fake_free;
  api.register_on_received = fake_register_on_received;
  api.register_on_stored = fake_register_on_stored;
  api.register_on_stable = fake_register_on_stable;
  api.register_method = fake_register_method;
  api.register_find_provider = fake_register_find_provider;
  api.register_timer = fake_register_timer;
  api.dataset_get = fake_dataset_get;
  api.dataset_set = fake_dataset_set;
  api.dataset_remove = fake_dataset_remove;
  api.result_set = fake_result_set;
  api.find_add = fake_find_add;
  api.config = fake_config;
  api.call_method = fake_call_method;
  api.index_find = fake_index_find;
  api.queue_send = fake_queue_send;
  api.queue_retrieve = fake_queue_retrieve;
  api.job_status = fake_job_status;
  api.update_patient = fake_update_patient;
  api.merge_patient = fake_merge_patient;
  return api;
}

class SdkTest : public ::testing::Test {
 protected:
  void SetUp() override { g_fake = &fake; }
  void TearDown() override {
    EXPECT_EQ(fake.outstanding.load(), 0) << "host strings not freed";
    g_fake = nullptr;
  }
  Fake fake;
  ossa_host_api api = make_table();
  ossa_host handle{1};
};

// ---- Host and Dataset, used directly
// --------------------------------------------------------------

TEST(SdkStatic, TagAndVersions) {
  static_assert(tag(0x0010, 0x0010) == 0x00100010u);
  static_assert(tag(0xFFFE, 0xE000) == 0xFFFEE000u);
  static_assert(ossa::sdk::kMinAbiMinor == 0, "the default minimum minor is 0");
  static_assert(std::is_same_v<ossa::sdk::PluginInfo, ossa_plugin_description>);
  static_assert(!std::is_copy_constructible_v<ossa::sdk::Host> &&
                !std::is_move_constructible_v<ossa::sdk::Host>);
  static_assert(!std::is_copy_constructible_v<ossa::sdk::Dataset>);
  static_assert(ossa::sdk::detail::valid_plugin_name("hl7-v2_x"));
  static_assert(!ossa::sdk::detail::valid_plugin_name("a.b") &&
                !ossa::sdk::detail::valid_plugin_name("") &&
                !ossa::sdk::detail::valid_plugin_name("a b"));
  EXPECT_EQ(ossa::sdk::detail::kHostApi10Size, sizeof(ossa_host_api));  // while the ABI is 1.0
}

TEST_F(SdkTest, Logging) {
  ossa::sdk::Host host(&api, &handle, "unit");
  host.debug("d");
  host.info(std::string_view("info line, cut here: not this", 10));
  host.warning("w");
  host.error("e");
  host.log(ossa::sdk::LogLevel::kWarning, "direct");
  ASSERT_EQ(fake.logs.size(), 5u);
  EXPECT_EQ(fake.logs[0], std::make_pair(OSSA_LOG_DEBUG, std::string("d")));
  EXPECT_EQ(fake.logs[1], std::make_pair(OSSA_LOG_INFO, std::string("info line,")));
  EXPECT_EQ(fake.logs[2].first, OSSA_LOG_WARNING);
  EXPECT_EQ(fake.logs[3].first, OSSA_LOG_ERROR);
  EXPECT_EQ(host.name(), "unit");
}

TEST_F(SdkTest, Services) {
  ossa::sdk::Host host(&api, &handle, "unit");
  fake.config = R"({"a":1})";
  EXPECT_EQ(host.config(), R"({"a":1})");

  EXPECT_EQ(host.call_method("echo", "[1,2]"), std::optional<std::string>("[1,2]"));
  EXPECT_EQ(host.call_method("nobody.nothing"), std::nullopt);
  try {
    (void)host.call_method("fail");
    ADD_FAILURE() << "no exception";
  } catch (const ossa::sdk::Error& e) {
    EXPECT_EQ(e.status(), OSSA_ERROR);
    EXPECT_NE(std::string(e.what()).find("method fail"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)host.call_method(std::string_view("a\0b", 3)), ossa::sdk::Error);

  EXPECT_EQ(host.index_find(R"({"level":"STUDY"})"), "[]");
  EXPECT_THROW((void)host.index_find("bad"), ossa::sdk::Error);

  EXPECT_EQ(host.queue_send("PACS", "STUDY", std::vector<std::string>{"1.2", "1.3"}), 7);
  EXPECT_EQ(fake.calls.back(), "send PACS STUDY 1.2\\1.3");
  try {
    host.queue_send("nope", "STUDY", "1.2");
    ADD_FAILURE() << "no exception";
  } catch (const ossa::sdk::Error& e) {
    EXPECT_EQ(e.status(), OSSA_E_NOT_FOUND);
  }
  try {
    host.queue_send("PACS", "BAD", "1.2");
    ADD_FAILURE() << "no exception";
  } catch (const ossa::sdk::Error& e) {
    EXPECT_EQ(e.status(), OSSA_E_INVALID_ARGUMENT);
  }
  EXPECT_EQ(host.queue_retrieve("PACS", "SERIES", "1.2", ossa::sdk::RetrieveWith::kGet), 8);
  EXPECT_EQ(fake.calls.back(), "retrieve PACS SERIES 1.2 1");
  EXPECT_EQ(host.queue_retrieve("PACS", "SERIES", std::vector<std::string>{"9"}), 8);
  EXPECT_EQ(fake.calls.back(), "retrieve PACS SERIES 9 0");

  EXPECT_EQ(host.job_status(7), std::optional<std::string>(R"({"id":7,"state":"done"})"));
  EXPECT_EQ(host.job_status(8), std::nullopt);

  EXPECT_TRUE(host.update_patient("P1", R"({"PatientName":"DOE^J"})"));
  EXPECT_FALSE(host.update_patient("unknown", "{}"));
  EXPECT_TRUE(host.merge_patient("P1", "P2"));
  EXPECT_FALSE(host.merge_patient("unknown", "P2"));
  EXPECT_THROW(host.merge_patient("P1", "P1"), ossa::sdk::Error);
}

TEST_F(SdkTest, FeatureGates) {
  ossa::sdk::Host host(&api, &handle, "unit");
  EXPECT_TRUE(host.has(&ossa_host_api::merge_patient));
  EXPECT_TRUE(host.has(&ossa_host_api::log));
  api.merge_patient = nullptr;
  EXPECT_FALSE(host.has(&ossa_host_api::merge_patient));
  api.merge_patient = fake_merge_patient;
  api.struct_size = offsetof(ossa_host_api, merge_patient);  // a host whose table ends earlier
  EXPECT_FALSE(host.has(&ossa_host_api::merge_patient));
  EXPECT_TRUE(host.has(&ossa_host_api::update_patient));
}

TEST_F(SdkTest, Dataset) {
  ossa_dataset raw;
  raw.values[tag(0x0010, 0x0020)] = "P1";
  ossa::sdk::Dataset dataset(&api, &raw);
  EXPECT_EQ(dataset.get(tag(0x0010, 0x0020)), std::optional<std::string>("P1"));
  EXPECT_EQ(dataset.get(tag(0x0008, 0x0080)), std::nullopt);
  dataset.set(tag(0x0008, 0x0080), "HOSP");
  EXPECT_EQ(raw.values[tag(0x0008, 0x0080)], "HOSP");
  EXPECT_TRUE(dataset.remove(tag(0x0008, 0x0080)));
  EXPECT_FALSE(dataset.remove(tag(0x0008, 0x0080)));
  EXPECT_THROW(dataset.set(tag(0x0008, 0x0080), "REFUSE"), ossa::sdk::Error);
  EXPECT_THROW(dataset.set(tag(0x0008, 0x0080), std::string_view("a\0b", 3)), ossa::sdk::Error);
  EXPECT_EQ(dataset.handle(), &raw);
}

TEST_F(SdkTest, RegistrationRefusedByTheHostIsDropped) {
  ossa::sdk::Host host(&api, &handle, "unit");
  host.method("unit.a", [](std::string_view) { return std::string("{}"); });
  try {
    host.method("unit.a", [](std::string_view) { return std::string("{}"); });
    ADD_FAILURE() << "no exception";
  } catch (const ossa::sdk::Error& e) {
    EXPECT_EQ(e.status(), OSSA_E_INVALID_ARGUMENT);
  }
  EXPECT_EQ(fake.methods.size(), 1u);
  EXPECT_THROW(host.timer(std::chrono::milliseconds(0), [] {}), ossa::sdk::Error);
  EXPECT_THROW(host.on_stored(nullptr), ossa::sdk::Error);
  fake.registration_open = false;
  EXPECT_THROW(host.on_stored([](const ossa::sdk::InstanceEvent&) {}), ossa::sdk::Error);
  fake.registration_open = true;
  host.close_registration();
  try {
    host.on_stored([](const ossa::sdk::InstanceEvent&) {});
    ADD_FAILURE() << "no exception";
  } catch (const ossa::sdk::Error& e) {
    EXPECT_EQ(e.status(), OSSA_E_WRONG_TIME);
  }
  EXPECT_TRUE(fake.stored.empty());
}

TEST_F(SdkTest, EventsFromOlderHostsLackLaterFields) {
  ossa_instance_event event{};
  event.struct_size = offsetof(ossa_instance_event, calling_aet);  // as if calling_aet came later
  event.sop_instance_uid = "1.2.3";
  event.calling_aet = "NOT READ";
  event.sequence = 5;
  const auto e = ossa::sdk::InstanceEvent::from(&event);
  EXPECT_EQ(e.sop_instance_uid, "1.2.3");
  EXPECT_EQ(e.sop_class_uid, "");  // NULL reads as empty
  EXPECT_EQ(e.calling_aet, "");
  EXPECT_EQ(e.sequence, 0);
  EXPECT_EQ(e.raw, &event);
}

// ---- The test plugin, loaded as the server loads plugins ---------------------------------------

class PluginTest : public SdkTest {
 protected:
  void SetUp() override {
    SdkTest::SetUp();
    library = dlopen(OSSA_SDK_TEST_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(library, nullptr) << dlerror();
    info = reinterpret_cast<ossa_plugin_info_fn>(dlsym(library, "ossa_plugin_info"));
    init = reinterpret_cast<ossa_plugin_init_fn>(dlsym(library, "ossa_plugin_init"));
    shutdown = reinterpret_cast<ossa_plugin_shutdown_fn>(dlsym(library, "ossa_plugin_shutdown"));
    ASSERT_TRUE(info && init && shutdown);
  }
  void TearDown() override {
    if (library != nullptr) dlclose(library);
    SdkTest::TearDown();
  }

  template <typename Fn>
  Fn hook(const Registered& r) {
    return reinterpret_cast<Fn>(r.function);
  }

  ossa_status call_method(const std::string& name, const std::string& params, std::string& out) {
    char* result = nullptr;
    const ossa_status status = fake_call_method(&handle, name.c_str(), params.c_str(), &result);
    out = result != nullptr ? result : "";
    fake_free(result);
    return status;
  }

  void* library = nullptr;
  ossa_plugin_info_fn info = nullptr;
  ossa_plugin_init_fn init = nullptr;
  ossa_plugin_shutdown_fn shutdown = nullptr;
};

TEST_F(PluginTest, Info) {
  const ossa::sdk::PluginInfo* i = info();
  ASSERT_NE(i, nullptr);
  EXPECT_EQ(i->struct_size, sizeof(ossa::sdk::PluginInfo));
  EXPECT_EQ(i->abi_major, static_cast<uint32_t>(OSSA_PLUGIN_ABI_MAJOR));
  EXPECT_EQ(i->abi_minor, 0u);  // the lowest minor it needs, not the header's
  EXPECT_STREQ(i->name, "sdktest");
  EXPECT_STREQ(i->version, "0.0.1");
  EXPECT_STREQ(i->description, "Unit-test plugin of the Ossa SDK");
  EXPECT_EQ(info(), i);
  // That only the three entry points are exported is checked by check_exports.cmake.
}

TEST_F(PluginTest, EveryHookThroughTheAbi) {
  ASSERT_EQ(init(&api, &handle, "{}"), OSSA_OK) << fake.all_logs();
  fake.registration_open = false;
  ASSERT_EQ(fake.received.size(), 2u);
  ASSERT_EQ(fake.stored.size(), 1u);
  ASSERT_EQ(fake.stable.size(), 1u);
  ASSERT_EQ(fake.methods.size(), 3u);
  ASSERT_EQ(fake.finds.size(), 2u);
  ASSERT_EQ(fake.timers.size(), 1u);
  EXPECT_EQ(fake.timers[0].interval_ms, 250u);
  EXPECT_EQ(fake.finds[0].name, "1.2.840.10008.5.1.4.31");
  EXPECT_EQ(fake.finds[0].aet_arg, nullptr);  // std::nullopt: any AE title
  EXPECT_EQ(fake.finds[1].aet, "RIS");

  // on_received: changes the dataset, accepts; refuses with a status; fails in three ways.
  ossa_instance_event event{};
  event.struct_size = sizeof(event);
  event.sop_instance_uid = "1.2.3";
  event.calling_aet = "MODALITY";
  const auto received = hook<ossa_on_received_fn>(fake.received[0]);
  ossa_dataset dataset;
  dataset.values[tag(0x0010, 0x0020)] = "P1";
  dataset.values[tag(0x0008, 0x1010)] = "STATION";
  uint16_t reject = 0;
  EXPECT_EQ(received(fake.received[0].user, &dataset, &event, &reject), OSSA_OK);
  EXPECT_EQ(reject, 0);
  EXPECT_EQ(dataset.values[tag(0x0008, 0x0080)], "SDK TEST");
  EXPECT_EQ(dataset.values.count(tag(0x0008, 0x1010)), 0u);

  dataset.values[tag(0x0010, 0x0020)] = "REJECT";
  EXPECT_EQ(received(fake.received[0].user, &dataset, &event, &reject), OSSA_OK);
  EXPECT_EQ(reject, 0xA700);

  dataset.values[tag(0x0010, 0x0020)] = "THROW";
  EXPECT_EQ(received(fake.received[0].user, &dataset, &event, &reject), OSSA_ERROR);
  EXPECT_TRUE(fake.logged("on_received hook failed: boom in on_received")) << fake.all_logs();
  dataset.values[tag(0x0010, 0x0020)] = "ERROR";
  EXPECT_EQ(received(fake.received[0].user, &dataset, &event, &reject), OSSA_E_NOT_FOUND);
  EXPECT_TRUE(fake.logged("on_received hook failed (status 3): an sdk error"));
  dataset.values[tag(0x0010, 0x0020)] = "INT";
  EXPECT_EQ(received(fake.received[0].user, &dataset, &event, &reject), OSSA_ERROR);
  EXPECT_TRUE(fake.logged("not a std::exception"));
  // the void-returning hook
  reject = 0;
  EXPECT_EQ(
      hook<ossa_on_received_fn>(fake.received[1])(fake.received[1].user, &dataset, &event, &reject),
      OSSA_OK);
  EXPECT_EQ(reject, 0);

  // on_stored
  const auto stored = hook<ossa_on_stored_fn>(fake.stored[0]);
  event.sequence = 41;
  EXPECT_EQ(stored(fake.stored[0].user, &event), OSSA_OK);
  EXPECT_TRUE(fake.logged("stored #41 1.2.3 from MODALITY"));
  event.sop_instance_uid = "throw";
  EXPECT_EQ(stored(fake.stored[0].user, &event), OSSA_ERROR);
  EXPECT_TRUE(fake.logged("on_stored hook failed: boom in on_stored"));

  // on_stable
  const auto stable = hook<ossa_on_stable_fn>(fake.stable[0]);
  ossa_stable_event study{sizeof(ossa_stable_event), "STUDY", "1.2", ""};
  ossa_stable_event series{sizeof(ossa_stable_event), "SERIES", "1.2", "1.2.1"};
  EXPECT_EQ(stable(fake.stable[0].user, &study), OSSA_OK);
  EXPECT_EQ(stable(fake.stable[0].user, &series), OSSA_ERROR);
  EXPECT_TRUE(fake.logged("on_stable hook failed: boom in on_stable"));

  // methods: a result, a failure, the Host's services from inside a method, late registration
  std::string out;
  EXPECT_EQ(call_method("sdktest.echo", R"({"x":1})", out), OSSA_OK);
  EXPECT_EQ(out, R"({"x":1})");
  EXPECT_EQ(call_method("sdktest.echo", "\"throw\"", out), OSSA_ERROR);
  EXPECT_TRUE(fake.logged("method sdktest.echo failed: boom in sdktest.echo"));
  fake.config = "{\"k\":2}";
  EXPECT_EQ(call_method("sdktest.services", "{}", out), OSSA_OK) << fake.all_logs();
  EXPECT_EQ(out,
            "config={\"k\":2} echo=[1] missing=nullopt find=[] job=7 "
            "status={\"id\":7,\"state\":\"done\"} nojob=none");
  EXPECT_EQ(call_method("sdktest.late", "{}", out), OSSA_E_WRONG_TIME);
  EXPECT_TRUE(fake.logged("hooks are registered during init only (timer)"));
  EXPECT_EQ(fake.timers.size(), 1u);

  // find providers
  const auto find = hook<ossa_find_fn>(fake.finds[0]);
  ossa_find_answers answers;
  EXPECT_EQ(find(fake.finds[0].user, R"({"PatientID":"*"})", &answers), OSSA_OK);
  EXPECT_EQ(answers.answers,
            (std::vector<std::string>{R"({"PatientID":"A"})", R"({"PatientID":"B"})"}));
  EXPECT_EQ(find(fake.finds[0].user, R"({"PatientID":"throw"})", &answers), OSSA_ERROR);
  EXPECT_TRUE(fake.logged("find provider 1.2.840.10008.5.1.4.31 failed: boom in find"));
  EXPECT_EQ(hook<ossa_find_fn>(fake.finds[1])(fake.finds[1].user, "{}", &answers), OSSA_OK);

  // timer: throws on every other call, and a void hook can only log
  const auto timer = hook<ossa_timer_fn>(fake.timers[0]);
  timer(fake.timers[0].user);
  EXPECT_TRUE(fake.logged("timer failed: boom in timer"));
  timer(fake.timers[0].user);

  // shutdown: the plugin's shutdown(), then its destructor, which may still log
  shutdown();
  EXPECT_TRUE(fake.logged("shutdown: received 1, stored 1"));
  EXPECT_TRUE(fake.logged("destroyed"));
  shutdown();  // a second call does nothing

  // loadable again after shutdown (the host dropped the first registrations)
  fake.received.clear(), fake.stored.clear(), fake.stable.clear();
  fake.methods.clear(), fake.finds.clear(), fake.timers.clear();
  fake.registration_open = true;
  EXPECT_EQ(init(&api, &handle, "{}"), OSSA_OK);
  EXPECT_EQ(init(&api, &handle, "{}"), OSSA_E_WRONG_TIME);  // but not twice
  shutdown();
}

TEST_F(PluginTest, InitFailureIsLoggedAndLeavesNothingBehind) {
  fake.config = "fail-init";
  EXPECT_EQ(init(&api, &handle, "fail-init"), OSSA_ERROR);
  EXPECT_TRUE(fake.logged("init failed: init refused by its config")) << fake.all_logs();
  EXPECT_FALSE(fake.logged("destroyed"));  // init did not finish: no "destroyed" line
  shutdown();                              // nothing to shut down
  EXPECT_FALSE(fake.logged("shutdown:"));
}

TEST_F(PluginTest, RefusesAnIncompatibleHost) {
  ossa_host_api other = api;
  other.abi_major = OSSA_PLUGIN_ABI_MAJOR + 1;
  EXPECT_EQ(init(&other, &handle, "{}"), OSSA_E_UNSUPPORTED);
  other = api;
  other.struct_size = offsetof(ossa_host_api, update_patient);  // a table without 1.0 slots
  EXPECT_EQ(init(&other, &handle, "{}"), OSSA_E_UNSUPPORTED);
  EXPECT_EQ(init(nullptr, &handle, "{}"), OSSA_E_INVALID_ARGUMENT);
  EXPECT_TRUE(fake.logged("does not match"));
  EXPECT_TRUE(fake.registered_nothing());
}

}  // namespace
