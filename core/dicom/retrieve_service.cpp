// C-MOVE and C-GET SCP: the instances under the identifier go out as C-STORE sub-operations, on a
// new association to a declared node (MOVE) or back on the requester's association (GET), with a
// pending response after each one and C-CANCEL honoured between them.

#include <functional>
#include <map>
#include <memory>
#include <set>

#include "archive/archive.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dicom/instance_sender.h"
#include "dicom/requested_association.h"
#include "dicom/query_translation.h"
#include "dicom/services.h"
#include "index/matching.h"
#include "util/log.h"

namespace ossa::dicom {
namespace {

constexpr uint16_t kStatusPending = 0xFF00;
constexpr uint16_t kStatusCancel = 0xFE00;
constexpr uint16_t kStatusWarning = 0xB000;
constexpr uint16_t kStatusAllFailed =
    0xA702;  // refused: out of resources, unable to perform sub-operations
constexpr uint16_t kStatusMoveDestinationUnknown = 0xA801;

struct Progress {
  int remaining = 0;
  int completed = 0;
  int failed = 0;
  int warning = 0;
  bool cancelled = false;
  std::vector<std::string> failed_uids;

  uint16_t final_status() const {
    if (cancelled) return kStatusCancel;
    if (failed == 0 && warning == 0) return 0x0000;
    if (completed == 0 && warning == 0) return kStatusAllFailed;
    return kStatusWarning;
  }
  std::unique_ptr<DcmDataset> failed_list() const {
    if (failed_uids.empty()) return nullptr;
    auto ds = std::make_unique<DcmDataset>();
    std::string joined;
    for (const auto& uid : failed_uids) joined += (joined.empty() ? "" : "\\") + uid;
    ds->putAndInsertOFStringArray(DCM_FailedSOPInstanceUIDList, joined.c_str());
    return ds;
  }
};

// A C-MOVE-RSP or C-GET-RSP (same fields, different types and flag names). Final responses carry
// no Remaining count, except after a cancel (PS3.4 C.4.2.1.6).
template <typename Response>
Response make_response(uint16_t status, const Progress& p, bool final, bool with_identifier,
                       unsigned count_flags, unsigned remaining_flag) {
  Response response{};
  response.DimseStatus = status;
  response.DataSetType = with_identifier ? DIMSE_DATASET_PRESENT : DIMSE_DATASET_NULL;
  response.NumberOfCompletedSubOperations = static_cast<DIC_US>(p.completed);
  response.NumberOfFailedSubOperations = static_cast<DIC_US>(p.failed);
  response.NumberOfWarningSubOperations = static_cast<DIC_US>(p.warning);
  response.NumberOfRemainingSubOperations = static_cast<DIC_US>(p.remaining);
  response.opts = count_flags;
  if (!final || status == kStatusCancel) response.opts |= remaining_flag;
  return response;
}

// One response of either service; `final` decides which counters are present (PS3.4 C.4.2.1.6).
using SendResponse = std::function<OFCondition(uint16_t status, const Progress&, bool final,
                                               DcmDataset* identifier, DcmDataset* detail)>;

// Receives the identifier and resolves it; sends the failure response itself when it cannot.
// Returns false when the request ended there (the condition says whether the association is fine).
bool resolve_request(ServiceContext& ctx, T_ASC_PresentationContextID pres_id, QueryModel model,
                     const SendResponse& respond, std::vector<index::InstanceLocation>& out,
                     std::string& level, OFCondition& cond) {
  T_ASC_PresentationContextID data_pres_id = pres_id;
  DcmDataset* received = nullptr;
  cond = DIMSE_receiveDataSetInMemory(ctx.association, DIMSE_NONBLOCKING, ctx.dimse_timeout_seconds,
                                      &data_pres_id, &received, nullptr, nullptr);
  std::unique_ptr<DcmDataset> identifier(received);
  if (cond.bad()) return false;
  TranslatedFind retrieve = translate_retrieve(*identifier, model);
  if (retrieve.error_status != 0) {
    log::warning("retrieve from ", ctx.peer, " refused: ", retrieve.error);
    DcmDataset detail;
    detail.putAndInsertString(DCM_ErrorComment, retrieve.error.substr(0, 64).c_str());
    detail.putAndInsertTagKey(DCM_OffendingElement, retrieve.offending);
    cond = respond(retrieve.error_status, Progress{}, true, nullptr, &detail);
    return false;
  }
  level = retrieve.level_text;
  try {
    out = ctx.archive.instances_for(retrieve.query);
  } catch (const std::exception& e) {
    log::error("retrieve from ", ctx.peer, " failed in the index: ", e.what());
    DcmDataset detail;
    detail.putAndInsertString(DCM_ErrorComment, "index error; see the server log");
    cond = respond(0xC001, Progress{}, true, nullptr, &detail);
    return false;
  }
  return true;
}

// Runs the sub-operations with `send_one`, answering pending after each and the final status.
// `on_requester_association` (C-GET): a broken sub-operation exchange means the requester's own
// association is gone, so the operation ends there.
OFCondition run_sub_operations(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                               DIC_US message_id, const std::vector<index::InstanceLocation>& items,
                               const std::function<SubOperationResult(size_t)>& send_one,
                               const SendResponse& respond, const std::string& what,
                               bool on_requester_association = false) {
  Progress p;
  p.remaining = static_cast<int>(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    if (DIMSE_checkForCancelRQ(ctx.association, pres_id, message_id) == EC_Normal) {
      p.cancelled = true;
      break;
    }
    const SubOperationResult r = send_one(i);
    if (r.association_broken && on_requester_association) {
      log::warning(what, ": the requester's association broke after ", p.completed, " of ",
                   items.size(), ": ", r.error);
      return makeOFCondition(OFM_dcmnet, 1, OF_error, r.error.c_str());
    }
    --p.remaining;
    if (r.status == 0) {
      ++p.completed;
    } else if (r.is_warning()) {
      ++p.warning;
    } else {
      ++p.failed;
      p.failed_uids.push_back(items[i].sop_instance_uid);
      log::warning(what, ": ", items[i].sop_instance_uid, " failed (0x", std::hex, r.status,
                   std::dec, ")", r.error.empty() ? "" : ": ", r.error);
    }
    if (p.remaining > 0) {
      const OFCondition cond = respond(kStatusPending, p, false, nullptr, nullptr);
      if (cond.bad()) return cond;
    }
  }
  log::info(what, ": ", p.completed, " sent, ", p.warning, " with warnings, ", p.failed, " failed",
            p.cancelled ? ", cancelled" : "");
  const std::unique_ptr<DcmDataset> failed = p.failed_list();
  return respond(p.final_status(), p, true, failed.get(), nullptr);
}

SubOperationResult local_failure(const std::string& why) {
  SubOperationResult r;
  r.status = 0xC000;
  r.error = why;
  return r;
}

// Sends one instance; a file that cannot be read fails this sub-operation only.
SubOperationResult send_guarded(InstanceSender& sender, archive::Archive& archive,
                                const index::InstanceLocation& item) {
  try {
    const index::InstanceLocation now = archive.current_location(item);
    return sender.send(now, archive.file_of(now));
  } catch (const std::exception& e) {
    return local_failure(e.what());
  }
}

bool model_of(const std::string& sop_class, const char* patient_root, const char* study_root,
              QueryModel& model) {
  if (sop_class == patient_root)
    model = QueryModel::kPatientRoot;
  else if (sop_class == study_root)
    model = QueryModel::kStudyRoot;
  else
    return false;
  return true;
}

}  // namespace

OFCondition serve_move(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                       T_DIMSE_C_MoveRQ& request) {
  SendResponse respond = [&](uint16_t status, const Progress& p, bool final, DcmDataset* ids,
                             DcmDataset* detail) {
    auto response = make_response<T_DIMSE_C_MoveRSP>(status, p, final, ids != nullptr,
                                                     O_MOVE_NUMBEROFCOMPLETEDSUBOPERATIONS |
                                                         O_MOVE_NUMBEROFFAILEDSUBOPERATIONS |
                                                         O_MOVE_NUMBEROFWARNINGSUBOPERATIONS,
                                                     O_MOVE_NUMBEROFREMAININGSUBOPERATIONS);
    return DIMSE_sendMoveResponse(ctx.association, pres_id, &request, &response, ids, detail);
  };
  QueryModel model;
  if (!model_of(request.AffectedSOPClassUID, UID_MOVEPatientRootQueryRetrieveInformationModel,
                UID_MOVEStudyRootQueryRetrieveInformationModel, model)) {
    return respond(STATUS_MOVE_Refused_SOPClassNotSupported, Progress{}, true, nullptr, nullptr);
  }
  ++ctx.queries;
  std::vector<index::InstanceLocation> items;
  std::string level;
  OFCondition cond;
  if (!resolve_request(ctx, pres_id, model, respond, items, level, cond)) return cond;

  const std::string destination = index::trim(request.MoveDestination);
  const std::optional<archive::Node> node = ctx.archive.node_by_aet(destination);
  if (!node || !node->move_destination) {
    log::warning(
        "C-MOVE from ", ctx.peer, " refused: destination '", destination,
        node ? "' may not receive C-MOVE (nodes: move_destination)" : "' is not a declared node");
    DcmDataset detail;
    detail.putAndInsertString(DCM_ErrorComment, "Move destination unknown");
    return respond(kStatusMoveDestinationUnknown, Progress{}, true, nullptr, &detail);
  }
  const std::string what = "C-MOVE from " + ctx.peer + " to " + node->aet + " (" + level + ")";
  if (items.empty()) return respond(0x0000, Progress{}, true, nullptr, nullptr);

  // One association per group of SOP classes (an association carries at most 128 contexts),
  // opened one after the other: a destination may serve a single association at a time.
  const auto plans = plan_store_associations(items);
  std::map<std::string, size_t> plan_of_class;
  for (size_t p = 0; p < plans.size(); ++p)
    for (const auto& c : plans[p]) plan_of_class[c.sop_class] = p;
  std::vector<size_t> order;  // instance indexes, grouped by association, stable within a group
  for (size_t p = 0; p < plans.size(); ++p)
    for (size_t i = 0; i < items.size(); ++i)
      if (plan_of_class[items[i].sop_class_uid] == p) order.push_back(i);
  std::vector<index::InstanceLocation> ordered;
  for (size_t i : order) ordered.push_back(items[i]);

  size_t open_plan = plans.size();
  std::unique_ptr<RequestedAssociation> association;
  std::unique_ptr<InstanceSender> sender;
  std::string association_error;
  return run_sub_operations(
      ctx, pres_id, request.MessageID, ordered,
      [&](size_t i) {
        const size_t plan = plan_of_class[ordered[i].sop_class_uid];
        if (plan != open_plan) {
          sender.reset();
          association = std::make_unique<RequestedAssociation>();  // releases the previous one
          open_plan = plan;
          association_error.clear();
          if (!association->open(ctx.own_aet, *node, plans[plan], ctx.max_pdu,
                                 ctx.acse_timeout_seconds, association_error)) {
            log::warning(what, ": cannot associate with ", node->host, ":", node->port, ": ",
                         association_error);
          } else {
            sender =
                std::make_unique<InstanceSender>(association->get(), ctx.dimse_timeout_seconds,
                                                 index::trim(ctx.calling_aet), request.MessageID);
          }
        }
        if (!sender) return local_failure("cannot associate: " + association_error);
        SubOperationResult r = send_guarded(*sender, ctx.archive, ordered[i]);
        if (r.association_broken) {
          // The destination dropped the association: the rest of this group fails at once
          // instead of each timing out on a dead connection.
          sender.reset();
          association.reset();
          association_error = r.error;
        }
        return r;
      },
      respond, what);
}

OFCondition serve_get(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                      T_DIMSE_C_GetRQ& request) {
  SendResponse respond = [&](uint16_t status, const Progress& p, bool final, DcmDataset* ids,
                             DcmDataset* detail) {
    auto response = make_response<T_DIMSE_C_GetRSP>(status, p, final, ids != nullptr,
                                                    O_GET_NUMBEROFCOMPLETEDSUBOPERATIONS |
                                                        O_GET_NUMBEROFFAILEDSUBOPERATIONS |
                                                        O_GET_NUMBEROFWARNINGSUBOPERATIONS,
                                                    O_GET_NUMBEROFREMAININGSUBOPERATIONS);
    return DIMSE_sendGetResponse(ctx.association, pres_id, &request, &response, ids, detail);
  };
  QueryModel model;
  if (!model_of(request.AffectedSOPClassUID, UID_GETPatientRootQueryRetrieveInformationModel,
                UID_GETStudyRootQueryRetrieveInformationModel, model)) {
    return respond(STATUS_GET_Refused_SOPClassNotSupported, Progress{}, true, nullptr, nullptr);
  }
  ++ctx.queries;
  std::vector<index::InstanceLocation> items;
  std::string level;
  OFCondition cond;
  if (!resolve_request(ctx, pres_id, model, respond, items, level, cond)) return cond;
  const std::string what = "C-GET from " + ctx.peer + " (" + level + ")";
  InstanceSender sender(ctx.association, ctx.dimse_timeout_seconds);
  return run_sub_operations(
      ctx, pres_id, request.MessageID, items,
      [&](size_t i) { return send_guarded(sender, ctx.archive, items[i]); }, respond, what,
      /*on_requester_association=*/true);
}

}  // namespace ossa::dicom
