#pragma once
// C-STORE sub-operations: sends stored instances over an association, as C-MOVE does on its own
// association to the destination and C-GET on the requester's association (roles reversed).
//
// For each instance the sender prefers a presentation context in the stored transfer syntax (the
// file goes as received); otherwise it converts with DCMTK's codecs to a syntax the peer accepted
// (JPEG, JPEG-LS and RLE decode to little endian; uncompressed may be re-encoded losslessly). An
// instance that cannot be converted fails alone: the caller carries on with the rest.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/assoc.h"
#include "index/index.h"

namespace ossa::dicom {

struct SubOperationResult {
  uint16_t status = 0;  // the peer's C-STORE status; 0xA702-style local failures as 0xC000
  std::string error;    // why it failed locally (no context, conversion impossible, I/O)
  // The exchange itself failed (network, timeout): the association is in an unknown state.
  bool association_broken = false;
  bool is_failure() const;
  bool is_warning() const;
};

class InstanceSender {
 public:
  // `association` must be established; its accepted storage contexts are read once here.
  InstanceSender(T_ASC_Association* association, int dimse_timeout_seconds,
                 std::string move_originator_aet = "", uint16_t move_originator_message_id = 0);

  SubOperationResult send(const index::InstanceLocation& instance,
                          const std::filesystem::path& file);

 private:
  struct Context {
    T_ASC_PresentationContextID id;
    std::string transfer_syntax;
  };
  T_ASC_Association* association_;
  int timeout_;
  std::string originator_aet_;
  uint16_t originator_message_id_;
  std::map<std::string, std::vector<Context>> accepted_;  // by SOP class
};

// Registers DCMTK's JPEG, JPEG-LS and RLE decoders and lossless encoders (once per process).
void register_codecs();

// Presentation contexts to propose for sending `instances` (C-MOVE): per SOP class, one context per
// stored transfer syntax plus one for explicit/implicit little endian. Splits into several lists
// (associations) when one would exceed the 128 contexts an association may carry.
struct ProposedContext {
  std::string sop_class;
  std::vector<std::string> transfer_syntaxes;
  // Ossa proposes the SCP role for this class (a C-GET requester's storage contexts).
  bool requester_is_scp = false;
};
std::vector<std::vector<ProposedContext>> plan_store_associations(
    const std::vector<index::InstanceLocation>& instances);

}  // namespace ossa::dicom
