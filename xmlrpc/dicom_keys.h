#pragma once
// DICOM identifiers as XML-RPC structs ({Keyword: "value"}), both ways, for ossa.find and the
// OsiriX Retrieve/CMove filters.

#include <map>
#include <string>

#include <xmlrpc-c/base.hpp>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"

namespace ossa::xmlrpc {

// "PatientName", "(0010,0010)" or "0010,0010" -> the tag with its dictionary VR. Also accepts the
// old OsiriX spellings (PatientsName, ModalitiesinStudy, ReferringPhysiciansName, ...).
bool parse_dicom_key(const std::string& key, DcmTag& tag);

// Puts `value` under `key` in `dataset`; returns an error text (empty on success).
std::string put_key(DcmDataset& dataset, const std::string& key, const std::string& value);

// An answer identifier as {Keyword: string} (UTF-8; sequences as arrays of structs).
xmlrpc_c::value dataset_to_struct(DcmDataset& dataset);

}  // namespace ossa::xmlrpc
