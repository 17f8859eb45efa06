#pragma once
// One matched entity as OsiriX describes it in `elements`: its Core Data attribute names
// (patientID, studyInstanceUID, seriesDICOMUID, ...), every value a string, dates as NSDate prints
// them ("2024-01-31 10:22:11 +0000"); attributes Ossa has no value for are left out, as OsiriX
// leaves out nil. Unlike OsiriX, values are not XML-escaped twice.

#include <xmlrpc-c/base.hpp>

#include "archive/archive.h"
#include "index/predicate.h"

namespace ossa::xmlrpc {

xmlrpc_c::value osirix_element(index::predicate::Table table,
                               const index::predicate::PredicateMatch& match,
                               const archive::Archive& archive);

}  // namespace ossa::xmlrpc
