#include "app/runtime.h"

#include <cstdio>
#include <cstdlib>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmnet/dul.h"
#include "dicom/instance_sender.h"
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
    case config::LogLevel::kDebug:
      log::set_level(log::Level::kDebug);
      break;
    case config::LogLevel::kInfo:
      log::set_level(log::Level::kInfo);
      break;
    case config::LogLevel::kWarning:
      log::set_level(log::Level::kWarning);
      break;
    case config::LogLevel::kError:
      log::set_level(log::Level::kError);
      break;
  }
  log::configure_dcmtk(log::level());
  // DCMTK leaves Nagle's algorithm on unless this is set before the network starts; with it on, a
  // peer waits ~40 ms for each small DIMSE message.
  ::setenv("TCP_NODELAY", "1", 1);
  // Without a connect timeout a vanished C-MOVE destination would hang its association.
  dcmConnectionTimeout.set(cfg.server.acse_timeout_seconds);
  dicom::register_codecs();  // transcoding for C-MOVE / C-GET
  if (!dcmDataDict.isDictionaryLoaded()) {
    log::error("DCMTK's data dictionary is not loaded (install libdcmtk17, or set DCMDICTPATH)");
    return false;
  }
  return true;
}

index::IndexOptions index_options(const config::Config& cfg) {
  index::IndexOptions options;
  switch (cfg.index.backend) {
    case config::IndexBackend::kSqlite:
      options.backend = index::Backend::kSqlite;
      break;
  }
  options.file = cfg.index.path;
  return options;
}

archive::ArchiveOptions archive_options(const config::Config& cfg) {
  archive::ArchiveOptions options;
  options.storage_root = cfg.storage.path;
  options.index = index_options(cfg);
  options.duplicates = cfg.storage.duplicates == config::DuplicatePolicy::kKeep
                           ? index::DuplicatePolicy::kKeep
                           : index::DuplicatePolicy::kOverwrite;
  options.min_free_bytes = cfg.storage.min_free_mb << 20;
  options.own_aet = cfg.server.aet;
  for (const auto& n : cfg.nodes) {
    options.nodes.push_back(
        {n.name, n.aet, n.host, n.port, n.move_destination, n.query, n.retrieve, n.send});
  }
  return options;
}

}  // namespace ossa::app
