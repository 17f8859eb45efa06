#include "dicom/instance_sender.h"

#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcrleerg.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpeg/djencode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/dcmjpls/djencode.h"
#include "dcmtk/dcmnet/dimse.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>
#include <mutex>
#include <set>

#include "util/log.h"

namespace ossa::dicom {
namespace {

constexpr uint16_t kLocalFailure = 0xC000;  // "unable to process", for failures on Ossa's side
constexpr size_t kMaxContextsPerAssociation = 128;

SubOperationResult local_failure(const std::string& why) {
  SubOperationResult r;
  r.status = kLocalFailure;
  r.error = why;
  return r;
}

}  // namespace

bool SubOperationResult::is_failure() const {
  return status != 0 && !is_warning();
}

bool SubOperationResult::is_warning() const {
  return (status & 0xF000) == 0xB000;
}

void register_codecs() {
  static std::once_flag once;
  std::call_once(once, [] {
    DJDecoderRegistration::registerCodecs();
    DJEncoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DJLSEncoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
    DcmRLEEncoderRegistration::registerCodecs();
  });
}

InstanceSender::InstanceSender(T_ASC_Association* association, int dimse_timeout_seconds,
                               std::string move_originator_aet, uint16_t move_originator_message_id)
    : association_(association),
      timeout_(dimse_timeout_seconds),
      originator_aet_(std::move(move_originator_aet)),
      originator_message_id_(move_originator_message_id) {
  const int count = ASC_countPresentationContexts(association->params);
  for (int i = 0; i < count; ++i) {
    T_ASC_PresentationContext pc;
    if (ASC_getPresentationContext(association->params, i, &pc).bad()) continue;
    if (pc.resultReason != ASC_P_ACCEPTANCE) continue;
    accepted_[pc.abstractSyntax].push_back({pc.presentationContextID, pc.acceptedTransferSyntax});
  }
}

SubOperationResult InstanceSender::send(const index::InstanceLocation& instance,
                                        const std::filesystem::path& file) {
  const auto contexts = accepted_.find(instance.sop_class_uid);
  if (contexts == accepted_.end() || contexts->second.empty()) {
    return local_failure("the peer accepted no presentation context for SOP class " +
                         instance.sop_class_uid);
  }
  // 1. As stored, when the peer accepted the stored syntax.
  const Context* chosen = nullptr;
  for (const auto& c : contexts->second)
    if (c.transfer_syntax == instance.transfer_syntax_uid) chosen = &c;

  DcmFileFormat format;
  DcmDataset* dataset = nullptr;
  if (!chosen) {
    // 2. Converted: uncompressed first (any stored syntax DCMTK can decode), then others (lossless
    // re-encoding of an uncompressed original).
    const OFCondition loaded = format.loadFile(OFFilename(file.c_str()));
    if (loaded.bad())
      return local_failure(std::string("cannot read the stored file: ") + loaded.text());
    dataset = format.getDataset();
    // Little endian (explicit, then implicit) is what every peer reads; big endian only when
    // nothing else was accepted; compressed last.
    auto rank = [](const std::string& ts) {
      if (ts == UID_LittleEndianExplicitTransferSyntax) return 0;
      if (ts == UID_LittleEndianImplicitTransferSyntax) return 1;
      if (ts == UID_BigEndianExplicitTransferSyntax) return 2;
      return 3;
    };
    std::vector<const Context*> order;
    for (const auto& c : contexts->second) order.push_back(&c);
    std::stable_sort(order.begin(), order.end(), [&](const Context* a, const Context* b) {
      return rank(a->transfer_syntax) < rank(b->transfer_syntax);
    });
    for (const Context* c : order) {
      const E_TransferSyntax target = DcmXfer(c->transfer_syntax.c_str()).getXfer();
      if (target == EXS_Unknown) continue;
      if (dataset->chooseRepresentation(target, nullptr).good() && dataset->canWriteXfer(target)) {
        chosen = c;
        break;
      }
    }
    if (!chosen) {
      return local_failure("cannot convert " + instance.sop_instance_uid + " from " +
                           DcmXfer(instance.transfer_syntax_uid.c_str()).getXferName() +
                           " to a transfer syntax the peer accepted");
    }
  }

  T_DIMSE_C_StoreRQ request{};
  request.MessageID = association_->nextMsgID++;
  OFStandard::strlcpy(request.AffectedSOPClassUID, instance.sop_class_uid.c_str(),
                      sizeof request.AffectedSOPClassUID);
  OFStandard::strlcpy(request.AffectedSOPInstanceUID, instance.sop_instance_uid.c_str(),
                      sizeof request.AffectedSOPInstanceUID);
  request.DataSetType = DIMSE_DATASET_PRESENT;
  request.Priority = DIMSE_PRIORITY_MEDIUM;
  if (!originator_aet_.empty()) {
    OFStandard::strlcpy(request.MoveOriginatorApplicationEntityTitle, originator_aet_.c_str(),
                        sizeof request.MoveOriginatorApplicationEntityTitle);
    request.MoveOriginatorID = originator_message_id_;
    request.opts = O_STORE_MOVEORIGINATORAETITLE | O_STORE_MOVEORIGINATORID;
  }
  T_DIMSE_C_StoreRSP response{};
  DcmDataset* detail = nullptr;
  const OFCondition cond =
      dataset ? DIMSE_storeUser(association_, chosen->id, &request, nullptr, dataset, nullptr,
                                nullptr, DIMSE_NONBLOCKING, timeout_, &response, &detail)
              : DIMSE_storeUser(association_, chosen->id, &request, file.c_str(), nullptr, nullptr,
                                nullptr, DIMSE_NONBLOCKING, timeout_, &response, &detail);
  const std::unique_ptr<DcmDataset> owned_detail(detail);  // allocated by DCMTK for the caller
  if (cond.bad()) {
    // NONBLOCKING above makes DCMTK honour the DIMSE timeout: a stalled peer fails this instance.
    SubOperationResult broken = local_failure(std::string("C-STORE failed: ") + cond.text());
    broken.association_broken = true;
    return broken;
  }
  SubOperationResult result;
  result.status = response.DimseStatus;
  return result;
}

std::vector<std::vector<ProposedContext>> plan_store_associations(
    const std::vector<index::InstanceLocation>& instances) {
  // SOP class -> stored transfer syntaxes, in first-seen order.
  std::vector<std::pair<std::string, std::vector<std::string>>> classes;
  for (const auto& i : instances) {
    auto it = std::find_if(classes.begin(), classes.end(),
                           [&](const auto& c) { return c.first == i.sop_class_uid; });
    if (it == classes.end()) {
      classes.push_back({i.sop_class_uid, {}});
      it = std::prev(classes.end());
    }
    if (std::find(it->second.begin(), it->second.end(), i.transfer_syntax_uid) == it->second.end())
      it->second.push_back(i.transfer_syntax_uid);
  }
  std::vector<std::vector<ProposedContext>> plans(1);
  for (const auto& [sop_class, stored] : classes) {
    std::vector<ProposedContext> contexts;
    // The stored syntax first, in a context of its own, unless the little-endian context below
    // already offers it.
    for (const auto& ts : stored)
      if (ts != UID_LittleEndianExplicitTransferSyntax &&
          ts != UID_LittleEndianImplicitTransferSyntax)
        contexts.push_back({sop_class, {ts}});
    contexts.push_back(
        {sop_class,
         {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax}});
    // For a peer that takes images only compressed: lossless syntaxes Ossa can encode to.
    if (dcmIsaStorageSOPClassUID(sop_class.c_str(), ESSC_Image)) {
      for (const char* ts : {UID_JPEGProcess14SV1TransferSyntax, UID_JPEGLSLosslessTransferSyntax,
                             UID_RLELosslessTransferSyntax}) {
        if (std::find(stored.begin(), stored.end(), ts) == stored.end())
          contexts.push_back({sop_class, {ts}});
      }
    }
    if (plans.back().size() + contexts.size() > kMaxContextsPerAssociation) plans.emplace_back();
    for (auto& c : contexts) plans.back().push_back(std::move(c));
  }
  if (plans.back().empty()) plans.pop_back();
  return plans;
}

}  // namespace ossa::dicom
