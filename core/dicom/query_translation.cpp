#include "dicom/query_translation.h"

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcelem.h"

#include <map>

#include "dicom/charset.h"

namespace ossa::dicom {
namespace {

using index::Level;
namespace tags = index::tags;

// Attributes the index computes rather than stores, and the level they describe.
const std::map<uint32_t, Level>& computed_levels() {
  static const std::map<uint32_t, Level> map = {
      {tags::kNumberOfPatientRelatedStudies, Level::kPatient},
      {tags::kNumberOfPatientRelatedSeries, Level::kPatient},
      {tags::kNumberOfPatientRelatedInstances, Level::kPatient},
      {tags::kNumberOfStudyRelatedSeries, Level::kStudy},
      {tags::kNumberOfStudyRelatedInstances, Level::kStudy},
      {tags::kModalitiesInStudy, Level::kStudy},
      {tags::kSopClassesInStudy, Level::kStudy},
      {tags::kNumberOfSeriesRelatedInstances, Level::kSeries},
      {index::tag(0x0008, 0x3002), Level::kInstance},  // Available Transfer Syntax UID
  };
  return map;
}

// Computed attributes that can also be matched (the counts are return-only).
bool is_matchable_computed(uint32_t t) {
  return t == tags::kModalitiesInStudy || t == tags::kSopClassesInStudy;
}

index::ValueKind kind_of(DcmEVR vr) {
  switch (vr) {
    case EVR_PN:
      return index::ValueKind::kPersonName;
    case EVR_DA:
      return index::ValueKind::kDate;
    case EVR_TM:
      return index::ValueKind::kTime;
    case EVR_DT:
      return index::ValueKind::kDateTime;
    case EVR_UI:
      return index::ValueKind::kUid;
    case EVR_AE:
    case EVR_CS:
    case EVR_LO:
    case EVR_LT:
    case EVR_SH:
    case EVR_ST:
    case EVR_UC:
    case EVR_UR:
    case EVR_UT:
      return index::ValueKind::kText;
    default:
      return index::ValueKind::kOther;
  }
}

bool decoded_by_charset(DcmEVR vr) {
  return vr == EVR_PN || vr == EVR_SH || vr == EVR_LO || vr == EVR_ST || vr == EVR_LT ||
         vr == EVR_UT || vr == EVR_UC;
}

bool parse_level(const std::string& text, Level& level) {
  if (text == "PATIENT")
    level = Level::kPatient;
  else if (text == "STUDY")
    level = Level::kStudy;
  else if (text == "SERIES")
    level = Level::kSeries;
  else if (text == "IMAGE")
    level = Level::kInstance;
  else
    return false;
  return true;
}

TranslatedFind failed(TranslatedFind f, uint16_t status, const DcmTagKey& key, std::string why) {
  f.error_status = status;
  f.offending = key;
  f.error = std::move(why);
  return f;
}

// Unique keys of the levels above `level` that a hierarchical query must give as single values
// (PS3.4 C.4.1.2.1), with the tag each one is.
std::vector<std::pair<Level, DcmTagKey>> required_unique_keys(QueryModel model, Level level) {
  std::vector<std::pair<Level, DcmTagKey>> keys;
  if (model == QueryModel::kPatientRoot && level > Level::kPatient)
    keys.emplace_back(Level::kPatient, DCM_PatientID);
  if (level > Level::kStudy) keys.emplace_back(Level::kStudy, DCM_StudyInstanceUID);
  if (level > Level::kSeries) keys.emplace_back(Level::kSeries, DCM_SeriesInstanceUID);
  return keys;
}

uint32_t key_of(const DcmTagKey& k) {
  return index::tag(k.getGroup(), k.getElement());
}

}  // namespace

TranslatedFind translate_find(DcmDataset& identifier, QueryModel model) {
  TranslatedFind f;
  OFString level_text;
  if (identifier.findAndGetOFString(DCM_QueryRetrieveLevel, level_text).bad() ||
      level_text.empty()) {
    return failed(std::move(f), 0xA900, DCM_QueryRetrieveLevel, "Query/Retrieve Level missing");
  }
  f.level_text = index::trim(level_text.c_str());
  Level level;
  if (!parse_level(f.level_text, level)) {
    return failed(std::move(f), 0xA900, DCM_QueryRetrieveLevel,
                  "unknown Query/Retrieve Level '" + f.level_text + "'");
  }
  if (model == QueryModel::kStudyRoot && level == Level::kPatient) {
    return failed(std::move(f), 0xA900, DCM_QueryRetrieveLevel,
                  "PATIENT level is not part of the Study Root model");
  }
  f.query.level = level;

  OFString charset;
  identifier.findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
  f.query_charset = charset.c_str();
  const CharsetDecoder decoder(f.query_charset);
  if (!decoder.error().empty()) {
    return failed(std::move(f), 0xA900, DCM_SpecificCharacterSet, decoder.error());
  }

  for (const auto& [above, key] : required_unique_keys(model, level)) {
    OFString value;
    identifier.findAndGetOFStringArray(key, value);
    const std::string v = index::trim(value.c_str());
    if (v.empty()) {
      return failed(
          std::move(f), 0xA900, key,
          std::string(DcmTag(key).getTagName()) + " is required at " + f.level_text + " level");
    }
    if (v.find_first_of("*?\\") != std::string::npos) {
      return failed(std::move(f), 0xA900, key,
                    std::string(DcmTag(key).getTagName()) + " must be a single value at " +
                        f.level_text + " level");
    }
  }

  for (unsigned long n = 0; n < identifier.card(); ++n) {
    DcmElement* element = identifier.getElement(n);
    const DcmTag& t = element->getTag();
    const uint32_t key = index::tag(t.getGroup(), t.getElement());
    if (t.getGroup() <= 0x0002 || key == tags::kQueryRetrieveLevel ||
        key == tags::kSpecificCharacterSet || key == tags::kRetrieveAeTitle ||
        key == tags::kInstanceAvailability) {
      continue;  // answered by Ossa itself, never matched
    }
    const DcmEVR vr = element->ident();
    if (t.isPrivate() || vr == EVR_SQ) {
      f.some_keys_unsupported = true;  // sequences and private keys are not answered
      continue;
    }
    const auto computed = computed_levels().find(key);
    const Level key_level =
        computed != computed_levels().end() ? computed->second : index::level_of_tag(key);
    if (key_level > level) {
      f.some_keys_unsupported = true;  // a key below the query level cannot be answered
      continue;
    }
    f.return_keys.push_back(t);
    if (computed != computed_levels().end()) f.query.computed.insert(key);
    if (computed != computed_levels().end() && !is_matchable_computed(key)) continue;

    OFString raw;
    element->getOFStringArray(raw);
    std::string value(raw.c_str(), raw.length());
    if (decoded_by_charset(vr) && !decoder.is_identity()) {
      auto utf8 = decoder.to_utf8(value, vr == EVR_PN);
      if (!utf8) {
        return failed(std::move(f), 0xA900, t, "key value not valid in its character set");
      }
      value = std::move(*utf8);
    }
    index::Condition condition = index::make_condition(key, key_level, kind_of(vr), value);
    if (!condition.valid) {
      return failed(
          std::move(f), 0xA900, t,
          std::string(DcmTag(t).getTagName()) + ": '" + value + "' is not a valid date/time");
    }
    if (condition.match != index::MatchKind::kUniversal) f.query.conditions.push_back(condition);
  }

  // The unique keys of the query level and the levels above always come back.
  std::vector<DcmTagKey> unique = {DCM_StudyInstanceUID, DCM_SeriesInstanceUID, DCM_SOPInstanceUID};
  if (model == QueryModel::kPatientRoot) unique.insert(unique.begin(), DCM_PatientID);
  for (const auto& key : unique) {
    const Level key_level = index::level_of_tag(key_of(key));
    if (key_level > level) continue;
    bool present = false;
    for (const auto& t : f.return_keys) present = present || t == key;
    if (!present) f.return_keys.emplace_back(key);
  }
  return f;
}

TranslatedFind translate_retrieve(DcmDataset& identifier, QueryModel model) {
  TranslatedFind f = translate_find(identifier, model);
  if (f.error_status != 0) return f;
  static const std::pair<Level, DcmTagKey> kUniqueKeys[] = {
      {Level::kPatient, DCM_PatientID},
      {Level::kStudy, DCM_StudyInstanceUID},
      {Level::kSeries, DCM_SeriesInstanceUID},
      {Level::kInstance, DCM_SOPInstanceUID},
  };
  const DcmTagKey& level_key = kUniqueKeys[static_cast<int>(f.query.level)].second;
  auto is_unique = [](uint32_t t) {
    for (const auto& [level, key] : kUniqueKeys)
      if (key_of(key) == t) return true;
    return false;
  };
  std::vector<index::Condition> kept;
  bool level_key_given = false;
  for (auto& c : f.query.conditions) {
    if (!is_unique(c.tag)) continue;
    level_key_given = level_key_given || c.tag == key_of(level_key);
    kept.push_back(std::move(c));
  }
  if (!level_key_given) {
    return failed(
        std::move(f), 0xA900, level_key,
        std::string(DcmTag(level_key).getTagName()) + " is required at " + f.level_text + " level");
  }
  f.query.conditions = std::move(kept);
  f.query.computed.clear();
  return f;
}

FindResponseBuilder::FindResponseBuilder(const TranslatedFind& find,
                                         const std::string& retrieve_aet)
    : find_(find) {
  answer_.putAndInsertString(DCM_QueryRetrieveLevel, find.level_text.c_str());
  answer_.putAndInsertString(DCM_RetrieveAETitle, retrieve_aet.c_str());
  for (const DcmTag& t : find.return_keys) {
    DcmTag with_vr(t);
    if (with_vr.getEVR() == EVR_UNKNOWN || with_vr.getEVR() == EVR_UN) with_vr.setVR(EVR_LO);
    answer_.insertEmptyElement(with_vr, OFTrue);
  }
  // Looked up after every insertion: a key asked for twice replaced its first element.
  for (const DcmTag& t : find.return_keys) {
    DcmElement* element = nullptr;
    answer_.findAndGetElement(t, element);
    values_.push_back(element);
  }
}

DcmDataset& FindResponseBuilder::build(const index::FindMatch& match) {
  bool all_ascii = true;
  for (size_t k = 0; k < values_.size(); ++k) {
    if (!values_[k]) continue;
    const DcmTag& t = find_.return_keys[k];
    const auto it = match.attributes.find(index::tag(t.getGroup(), t.getElement()));
    static const std::string kNone;
    const std::string& value = it == match.attributes.end() ? kNone : it->second;
    all_ascii = all_ascii && is_ascii(value);
    // A value the element's VR cannot hold leaves it empty, never with the last match's value.
    if (values_[k]->putOFStringArray(OFString(value.c_str(), value.size())).bad()) {
      values_[k]->clear();
    }
  }
  if (all_ascii) return answer_;
  // Prefer the caller's own character set (older viewers understand nothing else); fall back to
  // UTF-8 when a value cannot be expressed in it. Converted on a copy: the next match may be ASCII.
  text_ = std::make_unique<DcmDataset>(answer_);
  const std::string requested = index::trim(find_.query_charset);
  const bool converted = !requested.empty() && requested != "ISO_IR 192" &&
                         convert_dataset_from_utf8(*text_, requested);
  if (!converted) text_->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
  return *text_;
}

}  // namespace ossa::dicom
