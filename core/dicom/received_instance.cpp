#include "dicom/received_instance.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "storage/file_store.h"

namespace ossa::dicom {
namespace {

OFCondition out_of_resources(const std::string& what) {
  return makeOFCondition(OFM_dcmnet, DIMSEC_OUTOFRESOURCES, OF_error, what.c_str());
}

}  // namespace

ReceivedInstance::ReceivedInstance(std::filesystem::path file, size_t memory_limit)
    : file_(std::move(file)), memory_limit_(memory_limit) {}

OFCondition ReceivedInstance::begin(T_ASC_Association* association,
                                    T_ASC_PresentationContextID pres_id,
                                    const T_DIMSE_C_StoreRQ& request) {
  T_ASC_PresentationContext context;
  OFCondition cond = ASC_findAcceptedPresentationContext(association->params, pres_id, &context);
  if (cond.bad()) return cond;
  DcmMetaInfo meta;
  const Uint8 version[] = {0x00, 0x01};
  meta.putAndInsertUint8Array(DCM_FileMetaInformationVersion, version, 2);
  meta.putAndInsertString(DCM_MediaStorageSOPClassUID, request.AffectedSOPClassUID);
  meta.putAndInsertString(DCM_MediaStorageSOPInstanceUID, request.AffectedSOPInstanceUID);
  meta.putAndInsertString(DCM_TransferSyntaxUID, context.acceptedTransferSyntax);
  meta.putAndInsertString(DCM_ImplementationClassUID, OFFIS_IMPLEMENTATION_CLASS_UID);
  meta.putAndInsertString(DCM_ImplementationVersionName, OFFIS_DTK_IMPLEMENTATION_VERSION_NAME2);
  meta.putAndInsertString(DCM_SourceApplicationEntityTitle,
                          association->params->DULparams.callingAPTitle);
  cond = meta.computeGroupLengthAndPadding(EGL_withGL, EPD_noChange, EXS_LittleEndianExplicit,
                                           EET_UndefinedLength);
  if (cond.bad()) return cond;
  meta.transferInit();
  cond = meta.write(stream_, EXS_LittleEndianExplicit, EET_ExplicitLength, nullptr);
  meta.transferEnd();
  if (cond.bad())
    return out_of_resources("cannot write the meta header: " + std::string(cond.text()));
  return EC_Normal;
}

OFCondition ReceivedInstance::receive(T_ASC_Association* association,
                                      T_ASC_PresentationContextID& pres_id, int timeout) {
  const OFCondition cond = DIMSE_receiveDataSetInFile(association, DIMSE_NONBLOCKING, timeout,
                                                      &pres_id, &stream_, nullptr, nullptr);
  if (cond.bad()) return cond;
  stream_.flush();
  return EC_Normal;  // a write error is finish_file()'s to report
}

void ReceivedInstance::finish_file() {
  // In memory: one write, and the bytes stay for parsing.
  if (errno_ == 0 && !spilled_) {
    if (open_file()) write_all(sink_.bytes.data(), sink_.bytes.size());
  }
  if (errno_ != 0) {
    throw storage::StorageError("cannot write " + file_.string() + ": " + std::strerror(errno_),
                                errno_);
  }
  if (fd_.release_and_close() != 0) {
    throw storage::StorageError("cannot write " + file_.string() + ": " + std::strerror(errno),
                                errno);
  }
}

bool ReceivedInstance::open_file() {
  fd_ = util::Fd(::open(file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (fd_.get() < 0) errno_ = errno;
  return fd_.get() >= 0;
}

bool ReceivedInstance::spill() {
  if (!open_file()) return false;
  spilled_ = true;
  const bool written = write_all(sink_.bytes.data(), sink_.bytes.size());
  std::string().swap(sink_.bytes);  // the memory goes back now, not at the end of the transfer
  return written;
}

bool ReceivedInstance::write_all(const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd_.get(), data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      errno_ = errno;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

offile_off_t ReceivedInstance::Sink::write(const void* buf, offile_off_t buflen) {
  if (buf == nullptr || buflen <= 0) return 0;
  // A file that cannot be written (disk full) must not break the association: the rest of the
  // dataset is still read off the network and dropped, and finish_file() reports the error, so
  // the C-STORE is refused with a status and the sender goes on with the next instance.
  if (owner_.errno_ != 0) return buflen;
  const auto* data = static_cast<const char*>(buf);
  const auto size = static_cast<size_t>(buflen);
  if (!owner_.spilled_ && bytes.size() + size > owner_.memory_limit_) {
    if (!owner_.spill()) return buflen;
  }
  if (owner_.spilled_) {
    owner_.write_all(data, size);
  } else {
    bytes.append(data, size);
  }
  return buflen;
}

}  // namespace ossa::dicom
