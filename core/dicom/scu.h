#pragma once
// Ossa as SCU: C-ECHO, C-FIND, C-MOVE, C-GET and C-STORE towards declared remote nodes, for the
// command line (`ossa echo`, `ossa query`) and for the durable jobs (query, retrieve, send).
//
// Every function opens its own association(s) through RequestedAssociation and releases them before
// returning (aborts them when the exchange broke). None throws for network or peer problems: they
// return false with a one-line reason in `why`. Safe to call from several threads at once (each
// call has its own network and association).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "dicom/instance_sender.h"
#include "index/index.h"

class DcmDataset;

namespace ossa::dicom {

struct ScuOptions {
  std::string own_aet;  // calling AE title (Ossa's own, server.aet)
  uint32_t max_pdu = 131072;
  int acse_timeout = 30;   // seconds: association set-up and release
  int dimse_timeout = 60;  // seconds: waiting for the peer's next message
};

// C-ECHO. True when the node answered with Success.
bool echo(const archive::Node& node, const ScuOptions& options, std::string& why);

// C-FIND with the Patient Root (`patient_root`) or Study Root model. `on_answer` is called with the
// identifier of each pending response, in order; returning false sends C-CANCEL (the remaining
// answers are then read and dropped, and the call still returns true). Returns false when the
// association fails or the final status is a failure (the status and the peer's error comment are
// in `why`).
bool find(const archive::Node& node, const ScuOptions& options, bool patient_root,
          DcmDataset& identifier, const std::function<bool(DcmDataset&)>& on_answer,
          std::string& why);

// Sub-operation counts of the final C-MOVE / C-GET response (for C-GET, the counts are the peer's;
// Ossa's own refusals of incoming instances show up there as failed sub-operations).
struct RetrieveCounts {
  int completed = 0;
  int failed = 0;
  int warning = 0;
  uint16_t status = 0;  // the final response's status (0xFFFF when no final response came)
};

// C-MOVE: asks `source` to send what `identifier` matches to `destination_aet` (Ossa's own AE title
// to retrieve into Ossa, whose C-STORE SCP then ingests the instances). Returns true when the final
// status is Success or Warning (0xB000: some sub-operations failed; see `counts`), false otherwise
// (association problems, refusals such as 0xA801 "move destination unknown", 0xA702 when every
// sub-operation failed).
bool move(const archive::Node& source, const ScuOptions& options, bool patient_root,
          DcmDataset& identifier, const std::string& destination_aet, RetrieveCounts& counts,
          std::string& why);

// C-GET: the instances come back on the same association (Ossa takes the SCP role for the storage
// SOP classes) and go through archive.ingest_received(), the same ingest path as C-STORE; each is
// answered with the ingest's status. `storage_sop_classes` are the classes to offer; empty means
// DCMTK's long list of storage classes (as many as fit in one association). Returns as move() does.
bool get(const archive::Node& source, const ScuOptions& options, bool patient_root,
         DcmDataset& identifier, const std::vector<std::string>& storage_sop_classes,
         archive::Archive& archive, RetrieveCounts& counts, std::string& why);

// C-STORE of stored instances to `destination`, over as few associations as
// plan_store_associations() allows (each reused for all its instances), converting the transfer
// syntax when the peer did not accept the stored one. `after_each(i, result)` is called after each
// attempted instance (i indexes `instances`; result.status is the peer's status, or 0xC000 with
// result.error for a failure on Ossa's side); returning false stops the send.
// Returns true when every instance was attempted (individual failures are only reported through
// after_each). Returns false when stopped by after_each ("cancelled"), or when an association
// could not be established (or re-established after it broke): the instances not yet reported
// were not attempted.
bool send(const archive::Node& destination, const ScuOptions& options, archive::Archive& archive,
          const std::vector<index::InstanceLocation>& instances,
          const std::function<bool(size_t index, const SubOperationResult&)>& after_each,
          std::string& why);

// The storage SOP classes get() offers by default.
std::vector<std::string> default_retrieve_storage_classes();

}  // namespace ossa::dicom
