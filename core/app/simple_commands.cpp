// `ossa version`, `ossa check-config`, and the --config option shared by the other commands.

#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "app/commands.h"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "ossa/config/config.h"
#include "ossa/version.h"
#include "plugins/plugin_library.h"

namespace ossa::app {

bool take_config_option(std::vector<std::string>& args, std::string& config_path) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" || args[i] == "-c") {
      if (i + 1 >= args.size()) {
        std::fputs("--config needs a file name\n", stderr);
        return false;
      }
      config_path = args[i + 1];
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
      return true;
    }
  }
  if (const char* env = std::getenv("OSSA_CONFIG"); env && *env) {
    config_path = env;
  } else {
    config_path = "config/ossa.yaml";
  }
  return true;
}

int run_check_config(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fputs("usage: ossa check-config FILE\n", stderr);
    return 2;
  }
  try {
    const config::Config cfg = config::load_config_file(args[0]);
    std::printf("OK: %s (AE %s, port %u, storage %s, index %s)\n", args[0].c_str(),
                cfg.server.aet.c_str(), cfg.server.port, cfg.storage.path.c_str(),
                cfg.index.path.c_str());
    return 0;
  } catch (const config::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}

int run_plugin_info(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fputs("usage: ossa plugin-info FILE.so\n", stderr);
    return 2;
  }
  try {
    const plugins::PluginLibrary library(std::filesystem::absolute(args[0]));
    const plugins::PluginDescription& d = library.description();
    std::printf(
        "name: %s\nversion: %s\ndescription: %s\nplugin ABI: %u.%u (needs a host with "
        "%u.%u or a later 1.x)\nhost ABI: %d.%d\nloadable by this host: yes\n",
        d.name.c_str(), d.version.c_str(), d.description.c_str(), d.abi_major, d.abi_minor,
        d.abi_major, d.abi_minor, OSSA_PLUGIN_ABI_MAJOR, OSSA_PLUGIN_ABI_MINOR);
    return 0;
  } catch (const std::exception& e) {
    std::printf("loadable by this host: no\nwhy: %s\n", e.what());
    return 1;
  }
}

int run_version() {
  std::printf("ossa %s\n", OSSA_VERSION_STRING);
  std::printf("DCMTK %s\n", OFFIS_DCMTK_VERSION_STRING);
  std::printf("SQLite %s\n", sqlite3_libversion());
  return 0;
}

}  // namespace ossa::app
