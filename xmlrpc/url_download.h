#pragma once
// DownloadURL: fetches one DICOM file over HTTP or HTTPS (cpp-httplib) into the archive's temp
// folder, bounded in size and time, then stores it through the one ingest path.

#include <cstdint>
#include <string>

#include "archive/archive.h"

namespace ossa::xmlrpc {

struct DownloadResult {
  bool ok = false;
  std::string message;  // what was stored, or why not
};

DownloadResult download_and_ingest(const std::string& url, archive::Archive& archive,
                                   uint64_t max_bytes);

}  // namespace ossa::xmlrpc
