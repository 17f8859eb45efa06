#include "dicom/negotiation.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmnet/assoc.h"

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "util/log.h"

namespace ossa::dicom {
namespace {

const char* const kUncompressed[] = {UID_LittleEndianExplicitTransferSyntax,
                                     UID_LittleEndianImplicitTransferSyntax,
                                     UID_BigEndianExplicitTransferSyntax};

// Every transfer syntax DCMTK can name: the SCP stores what arrives as it arrives, so it needs no
// codec to accept a syntax.
const std::vector<const char*>& storage_transfer_syntaxes() {
  static const std::vector<const char*> list = [] {
    std::vector<const char*> out(std::begin(kUncompressed), std::end(kUncompressed));
    for (int x = EXS_LittleEndianImplicit; x <= EXS_HEVCMain10ProfileLevel5_1; ++x) {
      const DcmXfer xfer(static_cast<E_TransferSyntax>(x));
      if (xfer.getXfer() == EXS_Unknown || x == EXS_BigEndianImplicit) continue;
      bool present = false;
      for (const char* uid : out) present = present || std::strcmp(uid, xfer.getXferID()) == 0;
      if (!present) out.push_back(xfer.getXferID());
    }
    return out;
  }();
  return list;
}

bool is_storage_sop_class(const char* uid) {
  // DCMTK's table, plus any class under the storage root that a newer standard added.
  return dcmIsaStorageSOPClassUID(uid, ESSC_All) ||
         std::strncmp(uid, "1.2.840.10008.5.1.4.1.1.", 24) == 0;
}

}  // namespace

bool accept_presentation_contexts(T_ASC_Parameters* params,
                                  const std::vector<std::string>& provided_find_classes,
                                  bool archive_services) {
  std::vector<const char*> service_classes = {UID_VerificationSOPClass};
  if (archive_services) {
    service_classes.insert(service_classes.end(), {UID_FINDPatientRootQueryRetrieveInformationModel,
                                                   UID_FINDStudyRootQueryRetrieveInformationModel,
                                                   UID_MOVEPatientRootQueryRetrieveInformationModel,
                                                   UID_MOVEStudyRootQueryRetrieveInformationModel,
                                                   UID_GETPatientRootQueryRetrieveInformationModel,
                                                   UID_GETStudyRootQueryRetrieveInformationModel});
  }
  for (const std::string& uid : provided_find_classes) service_classes.push_back(uid.c_str());
  OFCondition cond = ASC_acceptContextsWithPreferredTransferSyntaxes(
      params, service_classes.data(), static_cast<int>(service_classes.size()),
      const_cast<const char**>(kUncompressed), 3);
  if (cond.bad()) {
    log::error("negotiation failed: ", cond.text());
    return false;
  }
  if (!archive_services) return true;

  // Storage: each proposed context of a storage class is accepted in the FIRST of its proposed
  // transfer syntaxes that DCMTK knows: the requestor lists its preference first (a modality its
  // native compression, a PACS the syntax a file is stored in), and Ossa stores what arrives as it
  // arrives, so it needs no codec to accept any of them. The role (SCU/SCP) is granted as
  // proposed, so a C-GET requester receives its instances on this association.
  const auto& known = storage_transfer_syntaxes();
  const int count = ASC_countPresentationContexts(params);
  for (int i = 0; i < count; ++i) {
    T_ASC_PresentationContext pc;
    if (ASC_getPresentationContext(params, i, &pc).bad() ||
        !is_storage_sop_class(pc.abstractSyntax))
      continue;
    const char* chosen = nullptr;
    for (int t = 0; t < pc.transferSyntaxCount && !chosen; ++t) {
      for (const char* uid : known) {
        if (std::strcmp(uid, pc.proposedTransferSyntaxes[t]) == 0) {
          chosen = uid;
          break;
        }
      }
    }
    const OFCondition cond =
        chosen ? ASC_acceptPresentationContext(params, pc.presentationContextID, chosen,
                                               ASC_SC_ROLE_SCUSCP)
               : ASC_refusePresentationContext(params, pc.presentationContextID,
                                               ASC_P_TRANSFERSYNTAXESNOTSUPPORTED);
    if (cond.bad()) {
      log::error("negotiation of a storage context failed: ", cond.text());
      return false;
    }
  }
  return true;
}

}  // namespace ossa::dicom
