#pragma once
// Process-wide set-up shared by the commands that open the archive.

#include <string>

#include "archive/archive.h"
#include "index/open_index.h"
#include "ossa/config/config.h"

namespace ossa::app {

// Loads and validates the configuration; prints the located error and returns false on failure.
bool load_config_or_report(const std::string& path, config::Config& out);

// Logging levels, DCMTK's data dictionary check, TCP_NODELAY for every DICOM socket.
// Returns false (after logging why) when the process cannot work.
bool prepare_process(const config::Config& cfg);

// Which index backend and file the configuration names (index.backend, index.path).
index::IndexOptions index_options(const config::Config& cfg);
archive::ArchiveOptions archive_options(const config::Config& cfg);

}  // namespace ossa::app
