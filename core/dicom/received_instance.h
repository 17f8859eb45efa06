#pragma once
// A C-STORE's dataset received as the bytes of a Part-10 file: Ossa's meta header, then the dataset
// exactly as it arrived (bit for bit, never re-encoded). The bytes stay in memory, so the file is
// written with one write() and parsed for the index without reading it back; a dataset larger
// than `memory_limit` continues into the file as it arrives instead (memory stays bounded with
// hundreds of associations receiving multi-frame objects at once).

#include <cstddef>
#include <filesystem>
#include <string>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcostrma.h"
#include "dcmtk/dcmnet/dimse.h"
#include "util/fd.h"

namespace ossa::dicom {

class ReceivedInstance {
 public:
  ReceivedInstance(std::filesystem::path file, size_t memory_limit);

  // Writes the meta header for `request`, received on `pres_id` of `association`: what DCMTK's
  // own receive-to-file writes (SOP Class and Instance UIDs, the accepted transfer syntax,
  // DCMTK's implementation UID and name, the calling AE as Source Application Entity Title).
  OFCondition begin(T_ASC_Association* association, T_ASC_PresentationContextID pres_id,
                    const T_DIMSE_C_StoreRQ& request);

  // Receives the dataset that follows the C-STORE request (blocks at most `timeout` seconds per
  // PDU). A bad condition means the association is broken.
  OFCondition receive(T_ASC_Association* association, T_ASC_PresentationContextID& pres_id,
                      int timeout);

  // After receive(): writes what is still in memory to the file and closes it. Throws
  // storage::StorageError (disk full, I/O error).
  void finish_file();

  // The whole file's bytes when they fit in memory_limit (else null: read the file).
  const std::string* bytes() const { return spilled_ ? nullptr : &sink_.bytes; }
  const std::filesystem::path& file() const { return file_; }

 private:
  // Where DCMTK's stream writes: memory, then the file once the limit is passed.
  class Sink : public DcmConsumer {
   public:
    explicit Sink(ReceivedInstance& owner) : owner_(owner) {}
    OFBool good() const override { return OFTrue; }  // write errors: see write()
    OFCondition status() const override { return EC_Normal; }
    OFBool isFlushed() const override { return OFTrue; }
    offile_off_t avail() const override { return 2147483647L; }  // as DCMTK's file consumer
    offile_off_t write(const void* buf, offile_off_t buflen) override;
    void flush() override {}

    std::string bytes;

   private:
    ReceivedInstance& owner_;
  };
  class Stream : public DcmOutputStream {
   public:
    explicit Stream(DcmConsumer* sink) : DcmOutputStream(sink) {}
  };

  bool open_file();  // false (errno_ set) on error
  bool spill();      // moves the bytes so far into the file and keeps writing there
  bool write_all(const char* data, size_t size);

  std::filesystem::path file_;
  size_t memory_limit_;
  bool spilled_ = false;
  util::Fd fd_;
  int errno_ = 0;  // the first write error (the rest of the dataset is then dropped)
  Sink sink_{*this};
  Stream stream_{&sink_};
};

}  // namespace ossa::dicom
