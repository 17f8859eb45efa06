#include "app/runtime.h"

#include <cstdio>
#include <cstdlib>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "util/log.h"

namespace ossa::app {

bool load_config_or_report(const std::string& path, config::Config& out) {
  try {
    out = config::load_config_file(path);
    return true;
  } catch (const config::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return false;
  }
}

bool prepare_process(const config::Config& cfg) {
  switch (cfg.log.level) {
    case config::LogLevel::kDebug: log::set_level(log::Level::kDebug); break;
    case config::LogLevel::kInfo: log::set_level(log::Level::kInfo); break;
    case config::LogLevel::kWarning: log::set_level(log::Level::kWarning); break;
    case config::LogLevel::kError: log::set_level(log::Level::kError); break;
  }
  log::configure_dcmtk(log::level());
  // DCMTK leaves Nagle's algorithm on unless this is set before the network starts; with it on, a
  // peer waits ~40 ms for each small DIMSE message.
  ::setenv("TCP_NODELAY", "1", 1);
  if (!dcmDataDict.isDictionaryLoaded()) {
    log::error("DCMTK's data dictionary is not loaded (install libdcmtk17, or set DCMDICTPATH)");
    return false;
  }
  return true;
}

archive::ArchiveOptions archive_options(const config::Config& cfg) {
  archive::ArchiveOptions options;
  options.storage_root = cfg.storage.path;
  options.index_file = cfg.index.path;
  options.duplicates = cfg.storage.duplicates == config::DuplicatePolicy::kKeep
                           ? index::DuplicatePolicy::kKeep
                           : index::DuplicatePolicy::kOverwrite;
  options.min_free_bytes = cfg.storage.min_free_mb << 20;
  return options;
}

}  // namespace ossa::app
