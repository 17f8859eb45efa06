#include "dicom/instance_reader.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"

#include <cerrno>

#include "dicom/charset.h"
#include "storage/file_store.h"
#include "util/log.h"

namespace ossa::dicom {
namespace {

// Values longer than this are not indexed (they stay in the file): free text and long lists would
// bloat the index without helping any query.
constexpr Uint32 kMaxIndexedValueLength = 1024;

bool is_text_with_charset(DcmEVR vr) {
  switch (vr) {
    case EVR_SH:
    case EVR_LO:
    case EVR_ST:
    case EVR_LT:
    case EVR_UT:
    case EVR_UC:
    case EVR_PN:
      return true;
    default:
      return false;
  }
}

bool is_indexable_vr(DcmEVR vr) {
  switch (vr) {
    case EVR_OB:
    case EVR_OW:
    case EVR_OF:
    case EVR_OD:
    case EVR_OL:
    case EVR_OV:
    case EVR_UN:
    case EVR_SQ:
    case EVR_ox:
    case EVR_px:
    case EVR_xs:
    case EVR_lt:
    case EVR_na:
    case EVR_up:
    case EVR_item:
    case EVR_metainfo:
    case EVR_dataset:
    case EVR_fileFormat:
    case EVR_dicomDir:
    case EVR_dirRecord:
    // DcmPixelData's own VR codes: without them the pixels of a small image (under 1024 bytes)
    // landed in the index as hex text (8x8 pixels: 380 bytes in every instance row).
    case EVR_PixelData:
    case EVR_OverlayData:
    case EVR_pixelSQ:
    case EVR_pixelItem:
    case EVR_UNKNOWN:
    case EVR_UNKNOWN2B:
      return false;
    default:
      return true;
  }
}

std::string required_uid(DcmDataset& ds, const DcmTagKey& key, const char* name) {
  OFString value;
  if (ds.findAndGetOFString(key, value).bad() || value.empty()) {
    throw InstanceRejected(0xA900, std::string("missing ") + name);
  }
  return std::string(value.c_str());
}

// The record of a file DCMTK has read (values longer than kMaxIndexedValueLength need not be).
InstanceFileInfo info_of(DcmFileFormat& format) {
  DcmDataset& ds = *format.getDataset();
  InstanceFileInfo info;
  info.sop_class_uid = required_uid(ds, DCM_SOPClassUID, "SOP Class UID (0008,0016)");
  info.sop_instance_uid = required_uid(ds, DCM_SOPInstanceUID, "SOP Instance UID (0008,0018)");
  required_uid(ds, DCM_StudyInstanceUID, "Study Instance UID (0020,000D)");
  required_uid(ds, DCM_SeriesInstanceUID, "Series Instance UID (0020,000E)");

  OFString meta_ts;
  DcmMetaInfo* meta = format.getMetaInfo();
  info.has_meta_header =
      meta && meta->card() > 0 && meta->findAndGetOFString(DCM_TransferSyntaxUID, meta_ts).good();
  if (info.has_meta_header && !meta_ts.empty()) {
    info.record.transfer_syntax_uid = meta_ts.c_str();
  } else {
    info.record.transfer_syntax_uid = DcmXfer(ds.getOriginalXfer()).getXferID();
  }

  OFString charset_raw;
  ds.findAndGetOFStringArray(DCM_SpecificCharacterSet, charset_raw);
  const CharsetDecoder decoder(charset_raw.c_str());
  if (!decoder.error().empty()) {
    log::warning("instance ", info.sop_instance_uid, ": ", decoder.error(),
                 "; its text is indexed as received");
  }

  // nextInContainer walks the element list once; getElement(n) walks it from the start each time.
  for (DcmObject* object = ds.nextInContainer(nullptr); object != nullptr;
       object = ds.nextInContainer(object)) {
    auto* element = static_cast<DcmElement*>(object);  // an item holds elements only
    const DcmTag& t = element->getTag();
    if (t.isPrivate() || t.getGroup() == 0x0002 || t.getGroup() == 0xFFFE) continue;
    const DcmEVR vr = element->ident();
    if (!is_indexable_vr(vr) || element->getLength() > kMaxIndexedValueLength) continue;
    OFString value;
    if (element->getOFStringArray(value).bad()) continue;
    std::string text(value.c_str(), value.length());
    if (is_text_with_charset(vr) && !decoder.is_identity()) {
      if (auto utf8 = decoder.to_utf8(text, vr == EVR_PN)) text = std::move(*utf8);
    }
    const uint32_t key = index::tag(t.getGroup(), t.getElement());
    info.record.attributes[static_cast<int>(index::level_of_tag(key))][key] = std::move(text);
  }
  return info;
}

}  // namespace

InstanceFileInfo read_instance_file(const std::filesystem::path& file) {
  DcmFileFormat format;
  const OFCondition loaded = format.loadFile(OFFilename(file.c_str()), EXS_Unknown, EGL_noChange,
                                             kMaxIndexedValueLength, ERM_autoDetect);
  if (loaded.bad()) {
    throw InstanceRejected(0xC000, std::string("not readable as DICOM: ") + loaded.text());
  }
  return info_of(format);
}

InstanceFileInfo read_instance_bytes(const std::string& bytes) {
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  DcmFileFormat format;
  format.transferInit();
  const OFCondition loaded = format.read(stream, EXS_Unknown, EGL_noChange, kMaxIndexedValueLength);
  format.transferEnd();
  stream.releaseBuffer();
  if (loaded.bad()) {
    throw InstanceRejected(0xC000, std::string("not readable as DICOM: ") + loaded.text());
  }
  return info_of(format);
}

void write_as_part10(const std::filesystem::path& source, const std::filesystem::path& target) {
  DcmFileFormat format;
  OFCondition c = format.loadFile(OFFilename(source.c_str()), EXS_Unknown, EGL_noChange,
                                  DCM_MaxReadLength, ERM_dataset);
  if (c.bad()) throw InstanceRejected(0xC000, std::string("not readable as DICOM: ") + c.text());
  const E_TransferSyntax xfer = format.getDataset()->getOriginalXfer();
  c = format.saveFile(OFFilename(target.c_str()), xfer, EET_ExplicitLength, EGL_recalcGL,
                      EPD_noChange, 0, 0, EWM_updateMeta);
  if (c.bad()) {
    throw storage::StorageError(std::string("cannot write ") + target.string() + ": " + c.text(),
                                EIO);
  }
  // Not flushed here: the ingest pipeline flushes the whole batch at once.
}

}  // namespace ossa::dicom
