#include "dicom/scu.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/dimse.h"
#include "dcmtk/dcmnet/diutil.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <memory>
#include <set>
#include <sstream>
#include <utility>

#include "dicom/requested_association.h"
#include "util/log.h"

namespace ossa::dicom {
namespace {

constexpr uint16_t kStatusPending = 0xFF00;
constexpr uint16_t kStatusPendingWarning = 0xFF01;  // C-FIND: optional keys not supported
constexpr uint16_t kStatusCancel = 0xFE00;
constexpr uint16_t kStatusOutOfResources = 0xA700;
constexpr uint16_t kStatusUnableToProcess = 0xC000;
constexpr uint16_t kNoFinalResponse = 0xFFFF;
constexpr size_t kMaxContexts = 128;  // per association (PS3.8: odd context IDs 1..255)

// Compressed syntaxes offered (in this order, as far as room allows) for the storage classes a
// C-GET names explicitly, so that instances can come back as the source stores them.
const char* const kCompressedSyntaxes[] = {
    UID_JPEGProcess14SV1TransferSyntax,
    UID_JPEGProcess1TransferSyntax,
    UID_JPEGLSLosslessTransferSyntax,
    UID_JPEG2000LosslessOnlyTransferSyntax,
    UID_RLELosslessTransferSyntax,
    UID_JPEGProcess2_4TransferSyntax,
    UID_JPEG2000TransferSyntax,
    UID_JPEGLSLossyTransferSyntax,
    UID_JPEGProcess14TransferSyntax,
    UID_DeflatedExplicitVRLittleEndianTransferSyntax,
    UID_MPEG2MainProfileAtMainLevelTransferSyntax,
    UID_MPEG4HighProfileLevel4_1TransferSyntax,
};

bool is_pending(uint16_t status) {
  return status == kStatusPending || status == kStatusPendingWarning;
}

bool is_warning(uint16_t status) {
  return (status & 0xF000) == 0xB000;
}

std::string hex_status(uint16_t status) {
  std::ostringstream out;
  out << "0x" << std::hex << std::uppercase;
  out.width(4);
  out.fill('0');
  out << status;
  return out.str();
}

std::string peer_of(const archive::Node& node) {
  return node.aet + "@" + node.host + ":" + std::to_string(node.port);
}

// "0xA900 (Failed: IdentifierDoesNotMatchSOPClass): <Error Comment>".
std::string describe_status(uint16_t status, const char* name, DcmDataset* detail) {
  std::string text = hex_status(status);
  if (name && *name) text += std::string(" (") + name + ")";
  OFString comment;
  if (detail && detail->findAndGetOFString(DCM_ErrorComment, comment).good() && !comment.empty())
    text += ": " + std::string(comment.c_str());
  return text;
}

ProposedContext uncompressed_context(const std::string& sop_class) {
  return {sop_class,
          {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax}};
}

// The association was left in an unknown state (DIMSE error, timeout, unexpected message): abort
// it, so that RequestedAssociation's release at scope exit has nothing left to wait for.
void abort_association(RequestedAssociation& association) {
  if (association.get()) ASC_abortAssociation(association.get());
}

bool open_association(RequestedAssociation& association, const archive::Node& node,
                      const ScuOptions& options, const std::vector<ProposedContext>& contexts,
                      std::string& why) {
  std::string reason;
  try {
    if (association.open(options.own_aet, node, contexts, options.max_pdu, options.acse_timeout,
                         reason)) {
      return true;
    }
  } catch (const std::exception& e) {
    reason = e.what();
  }
  why = "cannot associate with " + peer_of(node) + ": " + reason;
  return false;
}

// Sends a C-FIND/C-MOVE/C-GET request with its identifier; false (and the association aborted) on
// failure.
bool send_request(RequestedAssociation& association, T_ASC_PresentationContextID context,
                  T_DIMSE_Message& request, DcmDataset& identifier, const char* what,
                  std::string& why) {
  const OFCondition cond = DIMSE_sendMessageUsingMemoryData(association.get(), context, &request,
                                                            nullptr, &identifier, nullptr, nullptr);
  if (cond.bad()) {
    why = std::string("cannot send the ") + what + " request: " + cond.text();
    abort_association(association);
    return false;
  }
  return true;
}

// One response (or, for C-GET, a C-STORE request) read from the association.
struct Received {
  T_DIMSE_Message message{};
  T_ASC_PresentationContextID context = 0;
  std::unique_ptr<DcmDataset> detail;  // status detail of a response
};

bool receive_command(RequestedAssociation& association, const ScuOptions& options, Received& out,
                     std::string& why) {
  DcmDataset* detail = nullptr;
  const OFCondition cond =
      DIMSE_receiveCommand(association.get(), DIMSE_NONBLOCKING, options.dimse_timeout,
                           &out.context, &out.message, &detail);
  out.detail.reset(detail);
  if (cond.bad()) {
    why = cond == DIMSE_NODATAAVAILABLE
              ? "no answer within " + std::to_string(options.dimse_timeout) + " s (dimse timeout)"
              : std::string("association broken: ") + cond.text();
    abort_association(association);
    return false;
  }
  return true;
}

// Reads the data set that follows a response; `keep` receives it (may be null to drop it).
bool receive_dataset(RequestedAssociation& association, const ScuOptions& options,
                     T_ASC_PresentationContextID context, std::unique_ptr<DcmDataset>* keep,
                     std::string& why) {
  DcmDataset* dataset = nullptr;
  T_ASC_PresentationContextID data_context = context;
  const OFCondition cond =
      DIMSE_receiveDataSetInMemory(association.get(), DIMSE_NONBLOCKING, options.dimse_timeout,
                                   &data_context, &dataset, nullptr, nullptr);
  std::unique_ptr<DcmDataset> owned(dataset);
  if (cond.bad()) {
    why = std::string("cannot receive a response identifier: ") + cond.text();
    abort_association(association);
    return false;
  }
  if (keep) *keep = std::move(owned);
  return true;
}

const char* command_name(T_DIMSE_Command command) {
  switch (command) {
    case DIMSE_C_FIND_RSP:
      return "C-FIND-RSP";
    case DIMSE_C_MOVE_RSP:
      return "C-MOVE-RSP";
    case DIMSE_C_GET_RSP:
      return "C-GET-RSP";
    case DIMSE_C_STORE_RQ:
      return "C-STORE-RQ";
    case DIMSE_C_ECHO_RSP:
      return "C-ECHO-RSP";
    default:
      return "another DIMSE message";
  }
}

bool unexpected(RequestedAssociation& association, const Received& received, const char* waiting,
                std::string& why) {
  why = std::string("protocol error: received ") + command_name(received.message.CommandField) +
        " while waiting for " + waiting;
  abort_association(association);
  return false;
}

// ------------------------------------------------------------------------------------------------
// C-GET: incoming C-STORE sub-operations.

struct IncomingStore {
  archive::Archive* archive;
  archive::IngestOrigin origin;
  std::filesystem::path temp_file;
  bool ingested = false;
  bool stored = false;
  std::string refusal;
  std::unique_ptr<DcmDataset> status_detail;  // DIMSE_storeProvider borrows it for the response
  archive::IngestStream* stream;
};

void on_incoming_store(void* data, T_DIMSE_StoreProgress* progress, T_DIMSE_C_StoreRQ* request,
                       char*, DcmDataset**, T_DIMSE_C_StoreRSP* response, DcmDataset** detail) {
  if (progress->state != DIMSE_StoreEnd) return;
  auto* state = static_cast<IncomingStore*>(data);
  if (response->DimseStatus != STATUS_Success) return;  // DCMTK could not receive the dataset
  state->ingested = true;
  try {
    const archive::IngestResult result = state->archive->ingest_received(
        state->temp_file, request->AffectedSOPInstanceUID, state->origin, state->stream);
    response->DimseStatus = result.dimse_status;
    state->stored = result.ok();
    if (!result.ok()) state->refusal = result.message;
  } catch (const std::exception& e) {
    response->DimseStatus = kStatusOutOfResources;
    state->refusal = e.what();
    state->archive->discard_temp(state->temp_file);
  }
  if (!state->stored) {
    state->status_detail = std::make_unique<DcmDataset>();
    state->status_detail->putAndInsertString(DCM_ErrorComment,
                                             state->refusal.substr(0, 64).c_str());
    *detail = state->status_detail.get();
  }
}

// A data set Ossa cannot take (no temp file): read it into memory and refuse it.
void on_refused_store(void*, T_DIMSE_StoreProgress* progress, T_DIMSE_C_StoreRQ*, char*,
                      DcmDataset**, T_DIMSE_C_StoreRSP* response, DcmDataset**) {
  if (progress->state == DIMSE_StoreEnd) response->DimseStatus = kStatusOutOfResources;
}

struct IncomingTally {
  int stored = 0;
  int refused = 0;
  archive::IngestStream stream;  // the association's instances, one after another
};

// Answers one C-STORE-RQ on the C-GET association. False when the association broke.
bool serve_incoming_store(RequestedAssociation& association, const ScuOptions& options,
                          archive::Archive& archive, Received& received, const std::string& peer,
                          IncomingTally& tally, std::string& why) {
  T_DIMSE_C_StoreRQ& request = received.message.msg.CStoreRQ;
  // The C-GET source sends to Ossa: that is who the change log names as the sender.
  const std::string source_aet =
      association.get() ? std::string(association.get()->params->DULparams.calledAPTitle)
                        : std::string();
  IncomingStore state{&archive,     {source_aet, options.own_aet}, {}, false, false, {}, nullptr,
                      &tally.stream};
  OFCondition cond;
  try {
    state.temp_file = archive.new_temp_path();
  } catch (const std::exception& e) {
    state.refusal = e.what();
  }
  if (state.temp_file.empty()) {
    log::warning("C-GET from ", peer, ": cannot take ", request.AffectedSOPInstanceUID, ": ",
                 state.refusal);
    DcmDataset* dataset = nullptr;
    cond = DIMSE_storeProvider(association.get(), received.context, &request, nullptr, OFTrue,
                               &dataset, on_refused_store, nullptr, DIMSE_NONBLOCKING,
                               options.dimse_timeout);
    const std::unique_ptr<DcmDataset> dropped(dataset);
    ++tally.refused;
  } else {
    cond = DIMSE_storeProvider(association.get(), received.context, &request,
                               state.temp_file.c_str(), OFTrue /* meta header */, nullptr,
                               on_incoming_store, &state, DIMSE_NONBLOCKING, options.dimse_timeout);
    if (!state.ingested) {
      // Transfer broken or refused before ingest: the partial file must not linger.
      archive.discard_temp(state.temp_file);
    }
    if (state.stored) {
      ++tally.stored;
    } else {
      ++tally.refused;
      if (state.ingested)
        log::warning("C-GET from ", peer, ": ", request.AffectedSOPInstanceUID,
                     " refused: ", state.refusal);
    }
  }
  if (cond.bad()) {
    why = std::string("association broken while receiving ") + request.AffectedSOPInstanceUID +
          ": " + cond.text();
    abort_association(association);
    return false;
  }
  return true;
}

// ------------------------------------------------------------------------------------------------
// C-MOVE and C-GET share the response loop.

enum class RetrieveKind { kMove, kGet };

bool retrieve(RetrieveKind kind, const archive::Node& source, const ScuOptions& options,
              bool patient_root, DcmDataset& identifier, const std::string& destination_aet,
              const std::vector<std::string>* storage_sop_classes, archive::Archive* archive,
              RetrieveCounts& counts, std::string& why) {
  const bool is_get = kind == RetrieveKind::kGet;
  const char* what = is_get ? "C-GET" : "C-MOVE";
  const char* sop_class = is_get ? (patient_root ? UID_GETPatientRootQueryRetrieveInformationModel
                                                 : UID_GETStudyRootQueryRetrieveInformationModel)
                                 : (patient_root ? UID_MOVEPatientRootQueryRetrieveInformationModel
                                                 : UID_MOVEStudyRootQueryRetrieveInformationModel);
  counts = RetrieveCounts{};
  counts.status = kNoFinalResponse;
  const std::string peer = peer_of(source);

  std::vector<ProposedContext> contexts{uncompressed_context(sop_class)};
  if (is_get) {
    const bool explicit_classes = storage_sop_classes && !storage_sop_classes->empty();
    std::vector<std::string> classes;
    for (const auto& c :
         explicit_classes ? *storage_sop_classes : default_retrieve_storage_classes())
      if (std::find(classes.begin(), classes.end(), c) == classes.end()) classes.push_back(c);
    // Uncompressed contexts first, then compressed ones for the common image classes (or every
    // explicit class): a source that picks the context matching a file's syntax sends compressed
    // files as stored. (A source that takes the first accepted context of a class whatever the
    // file, as DCMTK's dcmqrscp does, sends uncompressed files and must convert compressed ones.)
    static const char* const kCommonImageClasses[] = {
        UID_CTImageStorage,
        UID_MRImageStorage,
        UID_ComputedRadiographyImageStorage,
        UID_DigitalXRayImageStorageForPresentation,
        UID_UltrasoundImageStorage,
        UID_UltrasoundMultiframeImageStorage,
        UID_SecondaryCaptureImageStorage,
        UID_XRayAngiographicImageStorage,
        UID_DigitalMammographyXRayImageStorageForPresentation,
        UID_NuclearMedicineImageStorage};
    std::vector<std::string> compressed_classes;
    if (explicit_classes) {
      compressed_classes = classes;
    } else {
      for (const char* c : kCommonImageClasses) compressed_classes.push_back(c);
    }
    const size_t compressed_per_class = explicit_classes ? std::size(kCompressedSyntaxes) : 5;
    const size_t reserved = explicit_classes ? 0 : compressed_per_class * compressed_classes.size();
    const size_t room = kMaxContexts - contexts.size() - std::min(reserved, kMaxContexts / 2);
    if (classes.size() > room) {
      log::warning(what, " from ", peer, ": offering only ", room, " of ", classes.size(),
                   " storage SOP classes (one association holds ", kMaxContexts,
                   " presentation contexts)");
      classes.resize(room);
    }
    for (const auto& c : classes) contexts.push_back(uncompressed_context(c));
    for (size_t t = 0; t < compressed_per_class; ++t)
      for (const auto& c : compressed_classes)
        if (contexts.size() < kMaxContexts) contexts.push_back({c, {kCompressedSyntaxes[t]}});
  }

  // A C-GET requester takes the SCP role for the storage classes only, not for the Q/R context.
  if (is_get)
    for (size_t i = 1; i < contexts.size(); ++i) contexts[i].requester_is_scp = true;
  RequestedAssociation association;
  if (!open_association(association, source, options, contexts, why)) return false;
  const T_ASC_PresentationContextID context = association.context_for(sop_class);
  if (context == 0) {
    why = source.aet + " does not support " + what + " with the " +
          (patient_root ? "Patient" : "Study") + " Root model";
    return false;
  }

  T_DIMSE_Message request{};
  DIC_US message_id = association.get()->nextMsgID++;
  if (is_get) {
    request.CommandField = DIMSE_C_GET_RQ;
    T_DIMSE_C_GetRQ& rq = request.msg.CGetRQ;
    rq.MessageID = message_id;
    OFStandard::strlcpy(rq.AffectedSOPClassUID, sop_class, sizeof rq.AffectedSOPClassUID);
    rq.Priority = DIMSE_PRIORITY_MEDIUM;
    rq.DataSetType = DIMSE_DATASET_PRESENT;
  } else {
    request.CommandField = DIMSE_C_MOVE_RQ;
    T_DIMSE_C_MoveRQ& rq = request.msg.CMoveRQ;
    rq.MessageID = message_id;
    OFStandard::strlcpy(rq.AffectedSOPClassUID, sop_class, sizeof rq.AffectedSOPClassUID);
    OFStandard::strlcpy(rq.MoveDestination, destination_aet.c_str(), sizeof rq.MoveDestination);
    rq.Priority = DIMSE_PRIORITY_MEDIUM;
    rq.DataSetType = DIMSE_DATASET_PRESENT;
  }
  if (!send_request(association, context, request, identifier, what, why)) return false;

  IncomingTally tally;
  const char* waiting = is_get ? "C-GET-RSP" : "C-MOVE-RSP";
  while (true) {
    Received received;
    if (!receive_command(association, options, received, why)) break;
    const T_DIMSE_Command command = received.message.CommandField;
    if (is_get && command == DIMSE_C_STORE_RQ) {
      if (!serve_incoming_store(association, options, *archive, received, peer, tally, why)) break;
      continue;
    }
    if (command != (is_get ? DIMSE_C_GET_RSP : DIMSE_C_MOVE_RSP))
      return unexpected(association, received, waiting, why);

    uint16_t status;
    T_DIMSE_DataSetType dataset_type;
    DIC_US responding_to;
    unsigned int opts;
    DIC_US completed, failed, warning;
    if (is_get) {
      const T_DIMSE_C_GetRSP& r = received.message.msg.CGetRSP;
      status = r.DimseStatus;
      dataset_type = r.DataSetType;
      responding_to = r.MessageIDBeingRespondedTo;
      opts = r.opts;
      completed = r.NumberOfCompletedSubOperations;
      failed = r.NumberOfFailedSubOperations;
      warning = r.NumberOfWarningSubOperations;
    } else {
      const T_DIMSE_C_MoveRSP& r = received.message.msg.CMoveRSP;
      status = r.DimseStatus;
      dataset_type = r.DataSetType;
      responding_to = r.MessageIDBeingRespondedTo;
      opts = r.opts;
      completed = r.NumberOfCompletedSubOperations;
      failed = r.NumberOfFailedSubOperations;
      warning = r.NumberOfWarningSubOperations;
    }
    // The flags have the same values for C-MOVE and C-GET.
    if (opts & O_MOVE_NUMBEROFCOMPLETEDSUBOPERATIONS) counts.completed = completed;
    if (opts & O_MOVE_NUMBEROFFAILEDSUBOPERATIONS) counts.failed = failed;
    if (opts & O_MOVE_NUMBEROFWARNINGSUBOPERATIONS) counts.warning = warning;
    if (responding_to != message_id) {
      log::warning(what, " from ", peer, ": response to message ", responding_to, ", expected ",
                   message_id);
    }
    if (dataset_type != DIMSE_DATASET_NULL &&
        !receive_dataset(association, options, received.context, nullptr, why)) {
      break;
    }
    if (is_pending(status)) continue;

    counts.status = status;
    const char* name = is_get ? DU_cgetStatusString(status) : DU_cmoveStatusString(status);
    log::info(what, " from ", peer, is_get ? "" : " to ", is_get ? "" : destination_aet, ": ",
              describe_status(status, name, received.detail.get()), ", completed ",
              counts.completed, ", failed ", counts.failed, ", warning ", counts.warning,
              is_get ? ", ingested " + std::to_string(tally.stored) + ", refused " +
                           std::to_string(tally.refused)
                     : std::string());
    if (status == STATUS_Success || is_warning(status)) return true;
    why = std::string(what) + " failed: " + describe_status(status, name, received.detail.get());
    return false;
  }
  return false;  // `why` says what broke; the association is aborted
}

SubOperationResult local_failure(const std::string& why) {
  SubOperationResult r;
  r.status = kStatusUnableToProcess;
  r.error = why;
  return r;
}

}  // namespace

std::vector<std::string> default_retrieve_storage_classes() {
  std::vector<std::string> out;
  for (int i = 0; i < numberOfDcmLongSCUStorageSOPClassUIDs && out.size() < kMaxContexts - 1; ++i) {
    const std::string uid = dcmLongSCUStorageSOPClassUIDs[i];
    if (std::find(out.begin(), out.end(), uid) == out.end()) out.push_back(uid);
  }
  return out;
}

bool echo(const archive::Node& node, const ScuOptions& options, std::string& why) {
  RequestedAssociation association;
  if (!open_association(association, node, options,
                        {uncompressed_context(UID_VerificationSOPClass)}, why)) {
    return false;
  }
  if (association.context_for(UID_VerificationSOPClass) == 0) {
    why = node.aet + " does not accept the Verification SOP Class";
    return false;
  }
  DIC_US status = 0;
  DcmDataset* detail = nullptr;
  const OFCondition cond =
      DIMSE_echoUser(association.get(), association.get()->nextMsgID++, DIMSE_NONBLOCKING,
                     options.dimse_timeout, &status, &detail);
  const std::unique_ptr<DcmDataset> owned_detail(detail);
  if (cond.bad()) {
    why = cond == DIMSE_NODATAAVAILABLE
              ? "no C-ECHO answer within " + std::to_string(options.dimse_timeout) +
                    " s (dimse timeout)"
              : std::string("C-ECHO failed: ") + cond.text();
    abort_association(association);
    return false;
  }
  if (status != STATUS_Success) {
    why = "C-ECHO answered " + describe_status(status, DU_cechoStatusString(status), detail);
    return false;
  }
  return true;
}

bool find(const archive::Node& node, const ScuOptions& options, bool patient_root,
          DcmDataset& identifier, const std::function<bool(DcmDataset&)>& on_answer,
          std::string& why) {
  const char* sop_class = patient_root ? UID_FINDPatientRootQueryRetrieveInformationModel
                                       : UID_FINDStudyRootQueryRetrieveInformationModel;
  const std::string peer = peer_of(node);
  RequestedAssociation association;
  if (!open_association(association, node, options, {uncompressed_context(sop_class)}, why))
    return false;
  const T_ASC_PresentationContextID context = association.context_for(sop_class);
  if (context == 0) {
    why = node.aet + " does not support C-FIND with the " +
          std::string(patient_root ? "Patient" : "Study") + " Root model";
    return false;
  }

  T_DIMSE_Message request{};
  request.CommandField = DIMSE_C_FIND_RQ;
  T_DIMSE_C_FindRQ& rq = request.msg.CFindRQ;
  rq.MessageID = association.get()->nextMsgID++;
  OFStandard::strlcpy(rq.AffectedSOPClassUID, sop_class, sizeof rq.AffectedSOPClassUID);
  rq.Priority = DIMSE_PRIORITY_MEDIUM;
  rq.DataSetType = DIMSE_DATASET_PRESENT;
  if (!send_request(association, context, request, identifier, "C-FIND", why)) return false;

  bool cancelled = false;
  size_t answers = 0;
  while (true) {
    Received received;
    if (!receive_command(association, options, received, why)) break;
    if (received.message.CommandField != DIMSE_C_FIND_RSP)
      return unexpected(association, received, "C-FIND-RSP", why);
    const T_DIMSE_C_FindRSP& response = received.message.msg.CFindRSP;
    std::unique_ptr<DcmDataset> answer;
    if (response.DataSetType != DIMSE_DATASET_NULL &&
        !receive_dataset(association, options, received.context, &answer, why)) {
      break;
    }
    const uint16_t status = response.DimseStatus;
    if (is_pending(status)) {
      if (cancelled || !answer) continue;
      ++answers;
      bool more = true;
      try {
        more = on_answer(*answer);
      } catch (...) {
        abort_association(association);
        throw;
      }
      if (!more) {
        cancelled = true;
        const OFCondition cond = DIMSE_sendCancelRequest(association.get(), context, rq.MessageID);
        if (cond.bad()) {
          // The caller has what it wanted; the association cannot be trusted any more.
          log::warning("C-FIND on ", peer, ": cannot send C-CANCEL: ", cond.text());
          abort_association(association);
          return true;
        }
      }
      continue;
    }
    const std::string text =
        describe_status(status, DU_cfindStatusString(status), received.detail.get());
    log::debug("C-FIND on ", peer, ": ", answers, " answers, final status ", text);
    if (status == STATUS_Success || is_warning(status) || (cancelled && status == kStatusCancel))
      return true;
    why = "C-FIND failed: " + text;
    return false;
  }
  return false;  // `why` says what broke; the association is aborted
}

bool move(const archive::Node& source, const ScuOptions& options, bool patient_root,
          DcmDataset& identifier, const std::string& destination_aet, RetrieveCounts& counts,
          std::string& why) {
  return retrieve(RetrieveKind::kMove, source, options, patient_root, identifier, destination_aet,
                  nullptr, nullptr, counts, why);
}

bool get(const archive::Node& source, const ScuOptions& options, bool patient_root,
         DcmDataset& identifier, const std::vector<std::string>& storage_sop_classes,
         archive::Archive& archive, RetrieveCounts& counts, std::string& why) {
  return retrieve(RetrieveKind::kGet, source, options, patient_root, identifier, "",
                  &storage_sop_classes, &archive, counts, why);
}

bool send(const archive::Node& destination, const ScuOptions& options, archive::Archive& archive,
          const std::vector<index::InstanceLocation>& instances,
          const std::function<bool(size_t index, const SubOperationResult&)>& after_each,
          std::string& why) {
  const std::string peer = peer_of(destination);
  int sent = 0, failed = 0, warnings = 0;
  auto summary = [&] {
    log::info("C-STORE to ", peer, ": ", sent, " sent, ", warnings, " with warnings, ", failed,
              " failed, ", instances.size() - static_cast<size_t>(sent + warnings + failed),
              " not attempted");
  };
  for (const auto& plan : plan_store_associations(instances)) {
    std::set<std::string> classes;
    for (const auto& c : plan) classes.insert(c.sop_class);
    std::vector<size_t> members;
    for (size_t i = 0; i < instances.size(); ++i)
      if (classes.count(instances[i].sop_class_uid)) members.push_back(i);

    std::unique_ptr<RequestedAssociation> association;
    std::unique_ptr<InstanceSender> sender;
    std::string broke;  // why the previous association of this plan was given up
    for (const size_t i : members) {
      if (!association) {
        association = std::make_unique<RequestedAssociation>();
        if (!open_association(*association, destination, options, plan, why)) {
          if (!broke.empty()) why = "the association broke (" + broke + ") and " + why;
          log::warning("C-STORE to ", peer, ": ", why);
          summary();
          return false;
        }
        sender = std::make_unique<InstanceSender>(association->get(), options.dimse_timeout);
      }
      SubOperationResult result;
      try {
        const index::InstanceLocation now = archive.current_location(instances[i]);
        result = sender->send(now, archive.file_of(now));
      } catch (const std::exception& e) {
        result = local_failure(e.what());
      }
      if (result.status == 0) {
        ++sent;
      } else if (result.is_warning()) {
        ++warnings;
      } else {
        ++failed;
        log::warning("C-STORE to ", peer, ": ", instances[i].sop_instance_uid, " failed (",
                     hex_status(result.status), ")", result.error.empty() ? "" : ": ",
                     result.error);
      }
      // The exchange itself failed (network, timeout): the association is in an unknown state,
      // so the rest goes on a new one.
      if (result.association_broken) {
        broke = result.error;
        abort_association(*association);
        sender.reset();
        association.reset();
      }
      if (!after_each(i, result)) {
        why = "cancelled";
        summary();
        return false;
      }
    }
  }
  summary();
  return true;
}

}  // namespace ossa::dicom
