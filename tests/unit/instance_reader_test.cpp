// Reading a received instance from its bytes in memory (C-STORE) must index exactly what reading
// the same file back (import, recovery, after a plugin rewrote it) indexes.

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dicom/instance_reader.h"
#include "temp_dir.h"

namespace {

namespace fs = std::filesystem;
using ossa::dicom::InstanceFileInfo;
using ossa::dicom::InstanceRejected;
using ossa::dicom::read_instance_bytes;
using ossa::dicom::read_instance_file;

fs::path write_instance(const fs::path& file, E_TransferSyntax xfer) {
  DcmFileFormat format;
  DcmDataset* ds = format.getDataset();
  ds->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 100");
  ds->putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, "1.2.826.0.1.3680043.8.498.4.1.1");
  ds->putAndInsertString(DCM_StudyInstanceUID, "1.2.826.0.1.3680043.8.498.4");
  ds->putAndInsertString(DCM_SeriesInstanceUID, "1.2.826.0.1.3680043.8.498.4.1");
  ds->putAndInsertString(DCM_PatientID, "BYTES");
  ds->putAndInsertString(DCM_PatientName, "M\xfcller^J\xfcrgen");                // Latin-1
  ds->putAndInsertString(DCM_StudyDescription, std::string(3000, 'x').c_str());  // not indexed
  ds->putAndInsertString(DCM_Modality, "CT");
  ds->putAndInsertUint16(DCM_Rows, 16);
  ds->putAndInsertUint16(DCM_Columns, 16);
  const std::string pixels(16 * 16 * 2, '\x07');
  ds->putAndInsertUint16Array(DCM_PixelData, reinterpret_cast<const Uint16*>(pixels.data()),
                              16 * 16);
  EXPECT_TRUE(format.saveFile(file.c_str(), xfer).good());
  return file;
}

std::string contents(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void expect_same(const InstanceFileInfo& a, const InstanceFileInfo& b) {
  EXPECT_EQ(a.sop_class_uid, b.sop_class_uid);
  EXPECT_EQ(a.sop_instance_uid, b.sop_instance_uid);
  EXPECT_EQ(a.has_meta_header, b.has_meta_header);
  EXPECT_EQ(a.record.transfer_syntax_uid, b.record.transfer_syntax_uid);
  for (int level = 0; level < 4; ++level)
    EXPECT_EQ(a.record.attributes[level], b.record.attributes[level]);
}

class InstanceReaderTest : public ::testing::TestWithParam<E_TransferSyntax> {
 protected:
  ossa::testing::TempDir dir_;
};

TEST_P(InstanceReaderTest, BytesInMemoryIndexLikeTheFile) {
  const fs::path file = write_instance(dir_.path() / "i.dcm", GetParam());
  const InstanceFileInfo from_file = read_instance_file(file);
  const InstanceFileInfo from_bytes = read_instance_bytes(contents(file));
  expect_same(from_file, from_bytes);
  EXPECT_EQ(from_bytes.record.get(ossa::index::Level::kPatient, ossa::index::tags::kPatientName),
            "M\xc3\xbcller^J\xc3\xbcrgen")
      << "decoded to UTF-8";
  EXPECT_EQ(from_bytes.record.transfer_syntax_uid, DcmXfer(GetParam()).getXferID());
}

INSTANTIATE_TEST_SUITE_P(TransferSyntaxes, InstanceReaderTest,
                         ::testing::Values(EXS_LittleEndianExplicit, EXS_LittleEndianImplicit,
                                           EXS_BigEndianExplicit,
                                           EXS_DeflatedLittleEndianExplicit));

TEST(InstanceReaderBytes, TruncatedOrForeignBytesAreRejected) {
  ossa::testing::TempDir dir;
  const std::string whole =
      contents(write_instance(dir.path() / "i.dcm", EXS_LittleEndianExplicit));
  EXPECT_THROW(read_instance_bytes(whole.substr(0, 200)), InstanceRejected);
  EXPECT_THROW(read_instance_bytes("not DICOM at all"), InstanceRejected);
}

}  // namespace
