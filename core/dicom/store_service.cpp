// C-STORE SCP: receives the dataset bit for bit as a Part-10 file (in memory, written with one
// write; dicom/received_instance.h), then the archive's one ingest path, which parses those same
// bytes. The response leaves only after ingest returns, i.e. once file and row are durable.

#include <cstring>
#include <filesystem>
#include <memory>

#include "archive/archive.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dicom/received_instance.h"
#include "dicom/services.h"
#include "util/log.h"

namespace ossa::dicom {
namespace {

// A dataset up to this size is kept in memory while it arrives; larger ones continue into their
// file. Memory stays bounded with hundreds of associations, and big images are not copied: parsed
// from memory, DCMTK copies every value (pixels too), while from a file it skips the long ones.
// Measured: a 512x512 CT slice (525 kB) in memory cost 3x its rate; small instances gain ~10%.
constexpr size_t kInMemoryLimit = 256u << 10;
constexpr uint16_t kStatusOutOfResources = 0xA700;

// The C-STORE-RSP for `request` (as DCMTK's DIMSE_storeProvider fills it).
T_DIMSE_C_StoreRSP response_to(const T_DIMSE_C_StoreRQ& request) {
  T_DIMSE_C_StoreRSP response;
  std::memset(&response, 0, sizeof response);
  response.DimseStatus = STATUS_Success;
  response.MessageIDBeingRespondedTo = request.MessageID;
  response.DataSetType = DIMSE_DATASET_NULL;
  OFStandard::strlcpy(response.AffectedSOPClassUID, request.AffectedSOPClassUID,
                      sizeof response.AffectedSOPClassUID);
  OFStandard::strlcpy(response.AffectedSOPInstanceUID, request.AffectedSOPInstanceUID,
                      sizeof response.AffectedSOPInstanceUID);
  response.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
  if (request.opts & O_STORE_RQ_BLANK_PADDING) response.opts |= O_STORE_RSP_BLANK_PADDING;
  if (dcmPeerRequiresExactUIDCopy.get()) response.opts |= O_STORE_PEER_REQUIRES_EXACT_UID_COPY;
  return response;
}

}  // namespace

OFCondition serve_store(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                        T_DIMSE_C_StoreRQ& request) {
  ReceivedInstance received(ctx.archive.new_temp_path(), kInMemoryLimit);
  OFCondition cond = received.begin(ctx.association, pres_id, request);
  T_ASC_PresentationContextID data_pres_id = pres_id;
  if (cond.good())
    cond = received.receive(ctx.association, data_pres_id, ctx.dimse_timeout_seconds);
  if (cond.bad()) {
    // Transfer broken: the association is gone with it, and the partial file must not linger.
    ctx.archive.discard_temp(received.file());
    log::warning("C-STORE from ", ctx.peer, " of ", request.AffectedSOPInstanceUID,
                 " not received: ", cond.text());
    return cond;
  }
  if (data_pres_id != pres_id) {
    ctx.archive.discard_temp(received.file());
    return makeDcmnetCondition(DIMSEC_INVALIDPRESENTATIONCONTEXTID, OF_error,
                               "C-STORE: presentation contexts of command and data differ");
  }

  T_DIMSE_C_StoreRSP response = response_to(request);
  archive::IngestResult result;
  bool written = false;
  try {
    received.finish_file();
    written = true;
  } catch (const std::exception& e) {  // disk full, I/O error: refused, the server goes on
    ctx.archive.discard_temp(received.file());
    result.dimse_status = kStatusOutOfResources;
    result.message = e.what();
  }
  if (written) {  // ingest_received consumes the file whatever happens
    result = ctx.archive.ingest_received(received.file(), request.AffectedSOPInstanceUID,
                                         {ctx.calling_aet, ctx.own_aet}, &ctx.ingest_stream,
                                         received.bytes());
  }
  response.DimseStatus = result.dimse_status;
  ++(result.ok() ? ctx.stored : ctx.refused);
  std::unique_ptr<DcmDataset> status_detail;
  if (!result.ok()) {
    log::warning("C-STORE from ", ctx.peer, " of ", request.AffectedSOPInstanceUID, " refused (0x",
                 std::hex, result.dimse_status, std::dec, "): ", result.message);
    status_detail = std::make_unique<DcmDataset>();
    status_detail->putAndInsertString(DCM_ErrorComment, result.message.substr(0, 64).c_str());
  } else if (result.kind == archive::IngestResult::Kind::kDuplicateKept) {
    log::info("C-STORE from ", ctx.peer, ": ", request.AffectedSOPInstanceUID,
              " already stored; kept the first copy (storage.duplicates: keep)");
  }
  return DIMSE_sendStoreResponse(ctx.association, pres_id, &request, &response,
                                 status_detail.get());
}

}  // namespace ossa::dicom
