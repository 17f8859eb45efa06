#pragma once
// Reads a stored or incoming DICOM file into the index's record: the identifying UIDs validated and
// every text value decoded to UTF-8. Bulk data (pixels, anything long or binary) is not loaded.

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "index/index.h"

namespace ossa::dicom {

// A file that cannot become an instance, with the C-STORE status that says why.
class InstanceRejected : public std::runtime_error {
 public:
  InstanceRejected(uint16_t dimse_status, const std::string& reason)
      : std::runtime_error(reason), status_(dimse_status) {}
  uint16_t dimse_status() const { return status_; }

 private:
  uint16_t status_;
};

struct InstanceFileInfo {
  index::InstanceRecord record;
  std::string sop_class_uid;
  std::string sop_instance_uid;
  bool has_meta_header =
      false;  // false: a bare dataset (import), which the store rewrites as Part 10
};

// Throws InstanceRejected: 0xC000 when the file is not readable DICOM, 0xA900 when a required UID
// (SOP Class, SOP Instance, Study Instance, Series Instance) is missing.
InstanceFileInfo read_instance_file(const std::filesystem::path& file);
// The same from the file's bytes in memory (a received instance, before it is read back).
InstanceFileInfo read_instance_bytes(const std::string& bytes);

// Writes a bare dataset (no meta header) at `source` as a Part-10 file at `target` keeping its
// transfer syntax (not flushed: the ingest pipeline flushes each batch).
void write_as_part10(const std::filesystem::path& source, const std::filesystem::path& target);

}  // namespace ossa::dicom
