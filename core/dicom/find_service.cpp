// C-FIND SCP: one pending response per match, streamed from the index page by page (or from a
// plugin's find provider for the SOP classes it registered), checking for C-CANCEL between
// matches; then the final status.

#include <memory>

#include "archive/archive.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dicom/find_json.h"
#include "dicom/pending_find_responses.h"
#include "dicom/query_translation.h"
#include "dicom/response_coalescing.h"
#include "dicom/services.h"
#include "util/log.h"

namespace ossa::dicom {
namespace {

constexpr size_t kMatchesPerCancelCheck = 16;

// One pending response carrying `answer`; the coalescing is told a message left.
OFCondition send_pending(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                         T_DIMSE_C_FindRQ& request, uint16_t status, DcmDataset* answer,
                         ResponseCoalescing& coalescing) {
  T_DIMSE_C_FindRSP response{};
  response.DimseStatus = status;
  response.DataSetType = DIMSE_DATASET_PRESENT;
  const OFCondition sent =
      DIMSE_sendFindResponse(ctx.association, pres_id, &request, &response, answer, nullptr);
  coalescing.sent();
  return sent;
}

OFCondition send_final(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                       T_DIMSE_C_FindRQ& request, uint16_t status, DcmDataset* detail) {
  T_DIMSE_C_FindRSP response{};
  response.DimseStatus = status;
  response.DataSetType = DIMSE_DATASET_NULL;
  return DIMSE_sendFindResponse(ctx.association, pres_id, &request, &response, nullptr, detail);
}

// C-FIND answered by a find provider (a plugin): the identifier goes out as JSON, each answer
// comes back as JSON and leaves at once as a pending response; C-CANCEL is checked before each.
OFCondition serve_provided_find(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                                T_DIMSE_C_FindRQ& request, DcmDataset& identifier,
                                archive::FindProviders& providers) {
  ++ctx.queries;
  bool cancelled = false;
  std::string bad_answer;
  OFCondition send_error = EC_Normal;
  size_t matches = 0;
  archive::FindProviders::Outcome outcome;
  ResponseCoalescing coalescing(ctx.association);  // through the final response
  try {
    outcome = providers.find(
        request.AffectedSOPClassUID, ctx.called_aet, identifier_to_json(identifier),
        [&](const std::string& answer_json) {
          if (DIMSE_checkForCancelRQ(ctx.association, pres_id, request.MessageID) == EC_Normal) {
            cancelled = true;
            return false;
          }
          std::unique_ptr<DcmDataset> answer = answer_to_dataset(answer_json, bad_answer);
          if (!answer) return false;
          send_error = send_pending(ctx, pres_id, request, STATUS_FIND_Pending_MatchesAreContinuing,
                                    answer.get(), coalescing);
          ++matches;
          return send_error.good();
        });
  } catch (const std::exception& e) {
    outcome.failed = true;
    outcome.error = e.what();
  }
  if (send_error.bad()) return send_error;
  if (cancelled) {
    log::debug("C-FIND from ", ctx.peer, " answered by plugin ", outcome.provider, ": ", matches,
               " match(es) (cancelled)");
    return send_final(ctx, pres_id, request, STATUS_FIND_Cancel, nullptr);
  }
  if (!bad_answer.empty() || outcome.failed) {
    const std::string why =
        !bad_answer.empty() ? "an answer cannot be encoded: " + bad_answer : outcome.error;
    log::error("C-FIND from ", ctx.peer, " (", request.AffectedSOPClassUID,
               "): find provider of plugin ", outcome.provider, " failed: ", why);
    DcmDataset detail;
    const std::string comment = "find provider " + outcome.provider + " failed";
    detail.putAndInsertString(DCM_ErrorComment, comment.substr(0, 64).c_str());
    return send_final(ctx, pres_id, request, STATUS_FIND_Failed_UnableToProcess, &detail);
  }
  log::debug("C-FIND from ", ctx.peer, " answered by plugin ", outcome.provider, ": ", matches,
             " match(es)");
  return send_final(ctx, pres_id, request, STATUS_Success, nullptr);
}

}  // namespace

OFCondition serve_find(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                       T_DIMSE_C_FindRQ& request) {
  T_ASC_PresentationContextID data_pres_id = pres_id;
  DcmDataset* received = nullptr;
  OFCondition cond =
      DIMSE_receiveDataSetInMemory(ctx.association, DIMSE_NONBLOCKING, ctx.dimse_timeout_seconds,
                                   &data_pres_id, &received, nullptr, nullptr);
  std::unique_ptr<DcmDataset> identifier(received);
  if (cond.bad()) return cond;

  const std::string sop_class = request.AffectedSOPClassUID;
  archive::FindProviders* providers = ctx.archive.find_providers();
  if (providers && providers->serves(sop_class, ctx.called_aet))
    return serve_provided_find(ctx, pres_id, request, *identifier, *providers);

  QueryModel model;
  if (sop_class == UID_FINDPatientRootQueryRetrieveInformationModel) {
    model = QueryModel::kPatientRoot;
  } else if (sop_class == UID_FINDStudyRootQueryRetrieveInformationModel) {
    model = QueryModel::kStudyRoot;
  } else {
    return send_final(ctx, pres_id, request, STATUS_FIND_Refused_SOPClassNotSupported, nullptr);
  }

  ++ctx.queries;
  TranslatedFind find = translate_find(*identifier, model);
  if (find.error_status != 0) {
    log::warning("C-FIND from ", ctx.peer, " refused: ", find.error);
    DcmDataset detail;
    detail.putAndInsertString(DCM_ErrorComment, find.error.substr(0, 64).c_str());
    detail.putAndInsertTagKey(DCM_OffendingElement, find.offending);
    return send_final(ctx, pres_id, request, find.error_status, &detail);
  }

  bool cancelled = false;
  OFCondition send_error = EC_Normal;
  size_t matches = 0;
  ResponseCoalescing coalescing(ctx.association);  // through the final response
  FindResponseBuilder answers(find, ctx.own_aet);
  PendingFindResponses pending(ctx.association, pres_id, request,
                               find.some_keys_unsupported
                                   ? STATUS_FIND_Pending_WarningUnsupportedOptionalKeys
                                   : STATUS_FIND_Pending_MatchesAreContinuing);
  try {
    ctx.archive.find(find.query, [&](index::FindMatch&& match) {
      // A C-CANCEL is looked for every few matches (a poll() each): thousands of matches would
      // otherwise spend more on polling than on encoding.
      if (matches % kMatchesPerCancelCheck == 0 &&
          DIMSE_checkForCancelRQ(ctx.association, pres_id, request.MessageID) == EC_Normal) {
        cancelled = true;
        return false;
      }
      send_error = pending.send(answers.build(match));
      coalescing.sent();
      ++matches;
      return send_error.good();
    });
  } catch (const std::exception& e) {
    log::error("C-FIND from ", ctx.peer, " failed in the index: ", e.what());
    DcmDataset detail;
    detail.putAndInsertString(DCM_ErrorComment, "index error; see the server log");
    return send_final(ctx, pres_id, request, 0xC001, &detail);
  }
  if (send_error.bad()) return send_error;
  log::debug("C-FIND from ", ctx.peer, " at ", find.level_text, ": ", matches, " match(es)",
             cancelled ? " (cancelled)" : "");
  return send_final(ctx, pres_id, request, cancelled ? STATUS_FIND_Cancel : STATUS_Success,
                    nullptr);
}

}  // namespace ossa::dicom
