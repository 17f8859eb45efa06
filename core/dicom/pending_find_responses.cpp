#include "dicom/pending_find_responses.h"

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcostrmb.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmnet/dul.h"

namespace ossa::dicom {

PendingFindResponses::PendingFindResponses(T_ASC_Association* association,
                                           T_ASC_PresentationContextID pres_id,
                                           T_DIMSE_C_FindRQ& request, uint16_t status)
    : association_(association), pres_id_(pres_id), request_(request), status_(status) {
  T_ASC_PresentationContext context;
  if (ASC_findAcceptedPresentationContext(association->params, pres_id, &context).bad()) return;
  const DcmXfer xfer(context.acceptedTransferSyntax);
  if (xfer.getXfer() == EXS_Unknown || xfer.getStreamCompression() != ESC_none) return;
  syntax_ = xfer.getXfer();

  // The command set of PS3.7 9.3.2.2 (C-FIND-RSP), as DCMTK's DIMSE builds it.
  DcmDataset command;
  OFCondition built = command.putAndInsertUint32(DCM_CommandGroupLength, 0);
  if (built.good())
    built = command.putAndInsertString(DCM_AffectedSOPClassUID, request.AffectedSOPClassUID);
  if (built.good()) built = command.putAndInsertUint16(DCM_CommandField, DIMSE_C_FIND_RSP);
  if (built.good())
    built = command.putAndInsertUint16(DCM_MessageIDBeingRespondedTo, request.MessageID);
  if (built.good())
    built = command.putAndInsertUint16(DCM_CommandDataSetType, DIMSE_DATASET_PRESENT);
  if (built.good()) built = command.putAndInsertUint16(DCM_Status, status);
  if (built.bad()) return;
  std::vector<unsigned char> bytes(4096);
  DcmOutputBufferStream out(bytes.data(), bytes.size());
  command.transferInit();
  const OFCondition written =
      command.write(out, EXS_LittleEndianImplicit, EET_ExplicitLength, nullptr, EGL_recalcGL);
  command.transferEnd();
  if (written.bad()) return;
  void* data = nullptr;
  offile_off_t length = 0;
  out.flushBuffer(data, length);
  bytes.resize(static_cast<size_t>(length));
  command_ = std::move(bytes);
  encoded_once_ = !command_.empty();
}

OFCondition PendingFindResponses::send(DcmDataset& identifier) {
  if (!encoded_once_) {
    T_DIMSE_C_FindRSP response{};
    response.DimseStatus = status_;
    response.DataSetType = DIMSE_DATASET_PRESENT;
    return DIMSE_sendFindResponse(association_, pres_id_, &request_, &response, &identifier,
                                  nullptr);
  }
  DUL_PDV pdv{};
  pdv.fragmentLength = command_.size();
  pdv.presentationContextID = pres_id_;
  pdv.pdvType = DUL_COMMANDPDV;
  pdv.lastPDV = OFTrue;
  pdv.data = command_.data();
  DUL_PDVLIST list{};
  list.count = 1;
  list.pdv = &pdv;
  const OFCondition sent = DUL_WritePDVs(&association_->DULassociation, &list);
  if (sent.bad()) return sent;
  return write_pdvs(identifier, syntax_, DUL_DATASETPDV);
}

OFCondition PendingFindResponses::write_pdvs(DcmDataset& object, E_TransferSyntax syntax,
                                             DUL_DATAPDV type) {
  // As DIMSE: the association's send buffer holds one PDV of the peer's maximum length.
  DcmOutputBufferStream out(association_->sendPDVBuffer, association_->sendPDVLength);
  object.transferInit();
  OFCondition result = EC_Normal;
  bool last = false;
  while (!last) {
    // The identifier carries no group lengths (FindResponseBuilder makes none): nothing to
    // recalculate, and recalculating walks every element's length first.
    const OFCondition written =
        object.write(out, syntax, EET_ExplicitLength, nullptr, EGL_noChange);
    if (written == EC_Normal) {
      last = true;
    } else if (written != EC_StreamNotifyClient) {
      result = written;
      break;
    }
    void* data = nullptr;
    offile_off_t length = 0;
    out.flushBuffer(data, length);
    if (length > 0) {
      DUL_PDV pdv{};
      pdv.fragmentLength = static_cast<unsigned long>(length);
      pdv.presentationContextID = pres_id_;
      pdv.pdvType = type;
      pdv.lastPDV = last ? OFTrue : OFFalse;
      pdv.data = data;
      DUL_PDVLIST list{};
      list.count = 1;
      list.pdv = &pdv;
      result = DUL_WritePDVs(&association_->DULassociation, &list);
      if (result.bad()) break;
    }
  }
  object.transferEnd();
  return result;
}

}  // namespace ossa::dicom
