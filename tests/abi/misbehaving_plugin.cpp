// A plugin whose hooks fail, throw and sleep, written against the raw C ABI (no SDK, so its
// exceptions reach the host): ingest must go on regardless.
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "ossa/plugin.h"

namespace {
const ossa_host_api* api = nullptr;
int calls = 0;

ossa_status on_received(void*, ossa_dataset*, const ossa_instance_event*, uint16_t*) {
  ++calls;
  if (calls % 3 == 0) throw std::runtime_error("on_received throws");
  if (calls % 3 == 1) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return OSSA_ERROR;
}

ossa_status on_stored(void*, const ossa_instance_event*) {
  throw std::runtime_error("on_stored throws");
}
}  // namespace

extern "C" {
OSSA_PLUGIN_EXPORT const ossa_plugin_description* ossa_plugin_info(void) {
  static const ossa_plugin_description info = {
      sizeof(ossa_plugin_description), OSSA_PLUGIN_ABI_MAJOR, 0, "misbehaving", "0.0.1",
      "fails, throws and sleeps"};
  return &info;
}

OSSA_PLUGIN_EXPORT ossa_status ossa_plugin_init(const ossa_host_api* host_api, ossa_host* host,
                                                const char*) {
  api = host_api;
  api->register_on_received(host, on_received, nullptr);
  api->register_on_stored(host, on_stored, nullptr);
  return OSSA_OK;
}

OSSA_PLUGIN_EXPORT void ossa_plugin_shutdown(void) {}
}
