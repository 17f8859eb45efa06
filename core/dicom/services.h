#pragma once
// The DIMSE services Ossa's SCP provides, one function per service, each driving one request to
// its final response on the association it came on.

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmnet/assoc.h"
#include "dcmtk/dcmnet/dimse.h"

#include <string>

namespace ossa::archive {
class Archive;
}

namespace ossa::dicom {

struct ServiceContext {
  T_ASC_Association* association;
  archive::Archive& archive;
  std::string own_aet;
  std::string peer;  // "AET@host" for log lines
  std::string calling_aet;
  std::string called_aet;  // the AE title the association was addressed to (find providers)
  int dimse_timeout_seconds;
  int acse_timeout_seconds;
  uint32_t max_pdu;
  archive::IngestStream ingest_stream;  // its C-STOREs, one after another, for the group commit
  // What the association did, for its closing log line.
  int stored = 0;
  int refused = 0;
  int queries = 0;
};

// C-STORE: receives the dataset bit for bit (in memory up to a limit, dicom/received_instance.h),
// writes it to a temp file, ingests it, and answers only once the instance is durable. A returned
// bad condition means the association is broken.
OFCondition serve_store(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                        T_DIMSE_C_StoreRQ& request);

// C-FIND on the Patient Root and Study Root information models, and on the SOP classes a find
// provider registered (archive/find_providers.h), e.g. Modality Worklist.
OFCondition serve_find(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                       T_DIMSE_C_FindRQ& request);

// C-MOVE to a declared node (unknown destination: A801), Patient Root and Study Root.
OFCondition serve_move(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                       T_DIMSE_C_MoveRQ& request);

// C-GET: sub-operations on the requester's own association (SCP role negotiated).
OFCondition serve_get(ServiceContext& ctx, T_ASC_PresentationContextID pres_id,
                      T_DIMSE_C_GetRQ& request);

}  // namespace ossa::dicom
