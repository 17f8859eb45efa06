/* Plugins the host must refuse, one per OSSA_TEST_CASE: another major, a newer minor, a missing
 * export. Built against the current header. */
#include "ossa/plugin.h"

OSSA_PLUGIN_EXPORT const ossa_plugin_description* ossa_plugin_info(void) {
#if OSSA_TEST_CASE == 1
  static const ossa_plugin_description info = {
      sizeof(ossa_plugin_description), OSSA_PLUGIN_ABI_MAJOR + 1, 0, "major", "1",
      "built for another major"};
#elif OSSA_TEST_CASE == 2
  static const ossa_plugin_description info = {sizeof(ossa_plugin_description),
                                               OSSA_PLUGIN_ABI_MAJOR,
                                               99,
                                               "minor",
                                               "1",
                                               "needs a newer minor"};
#else
  static const ossa_plugin_description info = {
      sizeof(ossa_plugin_description), OSSA_PLUGIN_ABI_MAJOR, 0, "noshutdown", "1",
      "lacks ossa_plugin_shutdown"};
#endif
  return &info;
}

OSSA_PLUGIN_EXPORT ossa_status ossa_plugin_init(const ossa_host_api* api, ossa_host* host,
                                                const char* config) {
  (void)api;
  (void)host;
  (void)config;
  return OSSA_OK;
}

#if OSSA_TEST_CASE != 3
OSSA_PLUGIN_EXPORT void ossa_plugin_shutdown(void) {}
#endif
