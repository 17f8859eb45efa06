#pragma once
// An association Ossa requests as SCU: C-MOVE's sub-association, and the jobs that send to, query
// and retrieve from remote nodes. Released (or aborted) and freed when it goes out of scope.

#include <cstdint>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "dicom/instance_sender.h"

struct T_ASC_Association;
struct T_ASC_Network;

namespace ossa::dicom {

class RequestedAssociation {
 public:
  RequestedAssociation() = default;
  ~RequestedAssociation();
  RequestedAssociation(const RequestedAssociation&) = delete;
  RequestedAssociation& operator=(const RequestedAssociation&) = delete;

  // Requests an association with `node` proposing `contexts`, each with its transfer syntaxes and
  // role (see ProposedContext). Returns false with a reason (unreachable, rejected, ...).
  bool open(const std::string& own_aet, const archive::Node& node,
            const std::vector<ProposedContext>& contexts, uint32_t max_pdu, int acse_timeout,
            std::string& why);
  T_ASC_Association* get() { return association_; }
  // The accepted presentation context for an abstract syntax, or 0.
  unsigned char context_for(const std::string& abstract_syntax) const;

 private:
  T_ASC_Network* network_ = nullptr;
  T_ASC_Association* association_ = nullptr;
  bool established_ = false;
};

}  // namespace ossa::dicom
