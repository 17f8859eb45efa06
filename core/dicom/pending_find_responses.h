#pragma once
// Sends the pending responses of one C-FIND.
//
// A pending C-FIND-RSP's command set is the same for every match of a query (SOP class, the
// request's message ID, the status), yet DIMSE_sendFindResponse builds and encodes it anew for
// each: with thousands of matches that was a sixth of the server's time. Here it is encoded once
// (by DCMTK, implicit VR little endian with its group length, as DIMSE does), and each response
// costs only its identifier's encoding, in the presentation context's transfer syntax; both go to
// DCMTK's upper layer (DUL_WritePDVs) as the command PDV and data PDVs DIMSE would send. Deflated
// transfer syntaxes go through DIMSE_sendFindResponse unchanged.

#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/dimse.h"

namespace ossa::dicom {

class PendingFindResponses {
 public:
  // `request` must outlive this object.
  PendingFindResponses(T_ASC_Association* association, T_ASC_PresentationContextID pres_id,
                       T_DIMSE_C_FindRQ& request, uint16_t status);
  PendingFindResponses(const PendingFindResponses&) = delete;
  PendingFindResponses& operator=(const PendingFindResponses&) = delete;

  // One pending response carrying `identifier`; a bad condition means the association broke.
  OFCondition send(DcmDataset& identifier);

 private:
  // Writes `object` as PDVs of `type`, fragmented to the peer's maximum PDV length.
  OFCondition write_pdvs(DcmDataset& object, E_TransferSyntax syntax, DUL_DATAPDV type);

  T_ASC_Association* association_;
  T_ASC_PresentationContextID pres_id_;
  T_DIMSE_C_FindRQ& request_;
  uint16_t status_;
  E_TransferSyntax syntax_ = EXS_Unknown;
  bool encoded_once_ = false;           // false: DIMSE_sendFindResponse for every response
  std::vector<unsigned char> command_;  // the encoded command set, when encoded_once_
};

}  // namespace ossa::dicom
