// C-STORE SCP: receive into a temp file (bit for bit, with a meta header), then the archive's one
// ingest path. The response leaves only after ingest returns, i.e. once file and row are durable.

#include <filesystem>
#include <memory>

#include "archive/archive.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dicom/services.h"
#include "util/log.h"

namespace ossa::dicom {
namespace {

struct StoreCallbackState {
  ServiceContext* ctx;
  std::filesystem::path temp_file;
  archive::IngestResult result;
  bool ingested = false;
  std::unique_ptr<DcmDataset> status_detail;  // DIMSE_storeProvider borrows it for the response
};

void on_store_progress(void* data, T_DIMSE_StoreProgress* progress, T_DIMSE_C_StoreRQ* request,
                       char*, DcmDataset**, T_DIMSE_C_StoreRSP* response, DcmDataset** detail) {
  if (progress->state != DIMSE_StoreEnd) return;
  auto* state = static_cast<StoreCallbackState*>(data);
  if (response->DimseStatus != STATUS_Success) return;  // DCMTK could not receive the dataset
  state->result = state->ctx->archive.ingest_received(
      state->temp_file, request->AffectedSOPInstanceUID,
      {state->ctx->calling_aet, state->ctx->own_aet}, &state->ctx->ingest_stream);
  state->ingested = true;
  response->DimseStatus = state->result.dimse_status;
  ++(state->result.ok() ? state->ctx->stored : state->ctx->refused);
  if (!state->result.ok()) {
    log::warning("C-STORE from ", state->ctx->peer, " of ", request->AffectedSOPInstanceUID,
                 " refused (0x", std::hex, state->result.dimse_status, std::dec,
                 "): ", state->result.message);
    state->status_detail = std::make_unique<DcmDataset>();
    state->status_detail->putAndInsertString(DCM_ErrorComment,
                                             state->result.message.substr(0, 64).c_str());
    *detail = state->status_detail.get();
  } else if (state->result.kind == archive::IngestResult::Kind::kDuplicateKept) {
    log::info("C-STORE from ", state->ctx->peer, ": ", request->AffectedSOPInstanceUID,
              " already stored; kept the first copy (storage.duplicates: keep)");
  }
}

}  // namespace

OFCondition serve_store(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                        T_DIMSE_C_StoreRQ& request) {
  StoreCallbackState state{&ctx, ctx.archive.new_temp_path(), {}, false, nullptr};
  const OFCondition cond = DIMSE_storeProvider(
      ctx.association, pres_id, &request, state.temp_file.c_str(), OFTrue /* meta header */,
      nullptr, on_store_progress, &state, DIMSE_NONBLOCKING, ctx.dimse_timeout_seconds);
  if (!state.ingested) {
    // Transfer broken or refused before ingest: the partial file must not linger.
    std::error_code ignored;
    std::filesystem::remove(state.temp_file, ignored);
    if (cond.bad()) {
      log::warning("C-STORE from ", ctx.peer, " of ", request.AffectedSOPInstanceUID,
                   " not received: ", cond.text());
    }
  }
  return cond;
}

}  // namespace ossa::dicom
