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

// Every transfer syntax DCMTK can name, uncompressed first: the SCP stores what arrives as it
// arrives, so it needs no codec to accept a syntax.
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

bool accept_presentation_contexts(T_ASC_Parameters* params) {
  const char* const service_classes[] = {
      UID_VerificationSOPClass,
      UID_FINDPatientRootQueryRetrieveInformationModel,
      UID_FINDStudyRootQueryRetrieveInformationModel,
      UID_MOVEPatientRootQueryRetrieveInformationModel,
      UID_MOVEStudyRootQueryRetrieveInformationModel,
      UID_GETPatientRootQueryRetrieveInformationModel,
      UID_GETStudyRootQueryRetrieveInformationModel,
  };
  OFCondition cond = ASC_acceptContextsWithPreferredTransferSyntaxes(
      params, const_cast<const char**>(service_classes),
      static_cast<int>(sizeof service_classes / sizeof service_classes[0]),
      const_cast<const char**>(kUncompressed), 3);
  if (cond.bad()) {
    log::error("negotiation failed: ", cond.text());
    return false;
  }

  // Storage: exactly the classes proposed, so the list never exceeds what one association holds.
  std::set<std::string> proposed;
  const int count = ASC_countPresentationContexts(params);
  for (int i = 0; i < count; ++i) {
    T_ASC_PresentationContext pc;
    if (ASC_getPresentationContext(params, i, &pc).good() &&
        is_storage_sop_class(pc.abstractSyntax))
      proposed.insert(pc.abstractSyntax);
  }
  if (proposed.empty()) return true;
  std::vector<const char*> classes;
  for (const auto& uid : proposed) classes.push_back(uid.c_str());
  const auto& syntaxes = storage_transfer_syntaxes();
  // SCU/SCP role: a C-GET requester proposes the SCP role for the storage classes it will take
  // back on this association; granting both roles leaves plain C-STORE requesters unaffected.
  cond = ASC_acceptContextsWithPreferredTransferSyntaxes(
      params, classes.data(), static_cast<int>(classes.size()),
      const_cast<const char**>(syntaxes.data()), static_cast<int>(syntaxes.size()),
      ASC_SC_ROLE_SCUSCP);
  if (cond.bad()) {
    log::error("negotiation of storage contexts failed: ", cond.text());
    return false;
  }
  return true;
}

}  // namespace ossa::dicom
