#include "index/open_index.h"

#include "index/sqlite_index.h"

namespace ossa::index {

std::unique_ptr<Index> open_index(const IndexOptions& options) {
  switch (options.backend) {
    case Backend::kSqlite:
      return std::make_unique<SqliteIndex>(options.file);
  }
  // Unreachable while the switch covers every Backend (-Wswitch says when it stops doing so).
  throw Error("unknown index backend", /*retryable=*/false, /*storage_full=*/false);
}

}  // namespace ossa::index
