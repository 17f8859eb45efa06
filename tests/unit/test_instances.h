#pragma once
// Small valid Part-10 instances written with DCMTK, for unit tests of the ingest path.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcuid.h"

namespace ossa::testing {

// A CT instance of one study and series (the same for every SOP Instance UID), with 2 kB of text
// so that a truncated file is told apart by its size.
inline void write_ct_instance(const std::filesystem::path& file, const std::string& sop_uid,
                              E_TransferSyntax syntax = EXS_LittleEndianExplicit) {
  DcmFileFormat format;
  DcmDataset* ds = format.getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, sop_uid.c_str());
  ds->putAndInsertString(DCM_StudyInstanceUID, "1.2.826.0.1.3680043.8.498.1");
  ds->putAndInsertString(DCM_SeriesInstanceUID, "1.2.826.0.1.3680043.8.498.1.1");
  ds->putAndInsertString(DCM_PatientID, "UNIT");
  ds->putAndInsertString(DCM_PatientName, "Unit^Test");
  ds->putAndInsertString(DCM_Modality, "CT");
  ds->putAndInsertString(DCM_StudyDescription, std::string(2000, 'x').c_str());
  ASSERT_TRUE(format.saveFile(file.c_str(), syntax).good());
}

}  // namespace ossa::testing
