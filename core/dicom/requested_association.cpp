#include "dicom/requested_association.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/assoc.h"

namespace ossa::dicom {

RequestedAssociation::~RequestedAssociation() {
  if (association_) {
    if (established_) ASC_releaseAssociation(association_);
    ASC_destroyAssociation(&association_);
  }
  if (network_) ASC_dropNetwork(&network_);
}

bool RequestedAssociation::open(const std::string& own_aet, const archive::Node& node,
                                const std::vector<ProposedContext>& contexts, uint32_t max_pdu,
                                int acse_timeout, std::string& why) {
  OFCondition cond = ASC_initializeNetwork(NET_REQUESTOR, 0, acse_timeout, &network_);
  T_ASC_Parameters* params = nullptr;
  if (cond.good()) cond = ASC_createAssociationParameters(&params, static_cast<long>(max_pdu));
  if (cond.bad()) {
    why = cond.text();
    return false;
  }
  ASC_setAPTitles(params, own_aet.c_str(), node.aet.c_str(), nullptr);
  const std::string peer = node.host + ":" + std::to_string(node.port);
  ASC_setPresentationAddresses(params, "localhost", peer.c_str());
  T_ASC_PresentationContextID id = 1;
  for (const auto& c : contexts) {
    std::vector<const char*> syntaxes;
    for (const auto& ts : c.transfer_syntaxes) syntaxes.push_back(ts.c_str());
    ASC_addPresentationContext(params, id, c.sop_class.c_str(), syntaxes.data(),
                               static_cast<int>(syntaxes.size()),
                               c.requester_is_scp ? ASC_SC_ROLE_SCP : ASC_SC_ROLE_DEFAULT);
    id = static_cast<T_ASC_PresentationContextID>(id + 2);
  }
  cond = ASC_requestAssociation(network_, params, &association_);
  if (cond.bad()) {
    if (!association_) ASC_destroyAssociationParameters(&params);
    why = cond == DUL_ASSOCIATIONREJECTED ? "association rejected by " + node.aet
                                          : std::string(cond.text());
    return false;
  }
  established_ = true;
  return true;
}

unsigned char RequestedAssociation::context_for(const std::string& abstract_syntax) const {
  if (!association_) return 0;
  return ASC_findAcceptedPresentationContextID(association_, abstract_syntax.c_str());
}

}  // namespace ossa::dicom
