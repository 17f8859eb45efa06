#pragma once
// Presentation-context negotiation for Ossa's SCP.
//
// DCMTK's association profiles hold at most 128 presentation contexts, fewer than the storage SOP
// classes it knows (186 in 3.6.7). Ossa does not use profiles: it looks at what the peer proposes
// (at most 128 contexts per association, by PS3.8) and accepts each storage context whose abstract
// syntax is a storage SOP class, in the first of its proposed transfer syntaxes DCMTK knows, so no
// class is ever lost and nothing needs converting on the way in.

#include <string>
#include <vector>

struct T_ASC_Parameters;

namespace ossa::dicom {

// Accepts Verification, the C-FIND SOP classes of `provided_find_classes` (find providers, e.g.
// Modality Worklist), and, when `archive_services`, the Q/R FIND, MOVE and GET models and every
// proposed storage SOP class (an association to a find provider's own AE title gets only
// Verification and its FIND classes). Returns false (with nothing accepted) on an internal DCMTK
// error.
bool accept_presentation_contexts(T_ASC_Parameters* params,
                                  const std::vector<std::string>& provided_find_classes = {},
                                  bool archive_services = true);

}  // namespace ossa::dicom
