#pragma once
// Where an Index comes from: the one place that knows which backends exist. Callers (the archive,
// the command line) name a backend from the configuration (index.backend) and get the interface.

#include <filesystem>
#include <memory>

#include "index/index.h"

namespace ossa::index {

enum class Backend {
  kSqlite,  // one SQLite file (WAL), shared by the processes of one machine
};

struct IndexOptions {
  Backend backend = Backend::kSqlite;
  std::filesystem::path file;  // kSqlite: the database file (created with its folder if needed)
};

// Opens (creating if needed) the index `options` describe. Throws index::Error when it cannot be
// opened or has a schema newer than this Ossa.
std::unique_ptr<Index> open_index(const IndexOptions& options);

}  // namespace ossa::index
