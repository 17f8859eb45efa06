// OriginalAttributes: what on_received hooks change is recorded as PS3.3 C.12.1.1.9 items.
#include "plugins/original_attributes.h"

#include <gtest/gtest.h>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcitem.h"

namespace ossa::plugins {
namespace {

std::string text(DcmItem& item, const DcmTagKey& key) {
  OFString value;
  item.findAndGetOFStringArray(key, value);
  return value.c_str();
}

DcmItem* modified_item(DcmDataset& dataset, long index) {
  DcmItem* item = nullptr;
  EXPECT_TRUE(dataset.findAndGetSequenceItem(DCM_OriginalAttributesSequence, item, index).good());
  DcmItem* modified = nullptr;
  EXPECT_TRUE(item->findAndGetSequenceItem(DCM_ModifiedAttributesSequence, modified, 0).good());
  return modified;
}

TEST(OriginalAttributes, OneItemPerPluginWithPriorValuesAndAddedOnesEmpty) {
  DcmDataset dataset;
  dataset.putAndInsertString(DCM_PatientName, "AS^SENT");
  dataset.putAndInsertString(DCM_PatientID, "P1");
  OriginalAttributes originals;
  originals.begin_plugin("first");
  originals.before_change(dataset, DCM_PatientName);
  dataset.putAndInsertString(DCM_PatientName, "FIRST^CHANGE");
  originals.before_change(dataset, DCM_PatientName);  // again: the received value stays
  dataset.putAndInsertString(DCM_PatientName, "FIRST^AGAIN");
  originals.before_change(dataset, DCM_PatientSex);  // absent before
  dataset.putAndInsertString(DCM_PatientSex, "F");
  originals.begin_plugin("second");
  originals.before_change(dataset, DCM_PatientID);
  dataset.findAndDeleteElement(DCM_PatientID);

  std::string error;
  ASSERT_TRUE(originals.write(dataset, "MODALITY", error)) << error;
  DcmItem* first = nullptr;
  ASSERT_TRUE(dataset.findAndGetSequenceItem(DCM_OriginalAttributesSequence, first, 0).good());
  EXPECT_EQ(text(*first, DCM_ModifyingSystem), "first");
  EXPECT_EQ(text(*first, DCM_ReasonForTheAttributeModification), "COERCE");
  EXPECT_EQ(text(*first, DCM_SourceOfPreviousValues), "MODALITY");
  EXPECT_FALSE(text(*first, DCM_AttributeModificationDateTime).empty());
  DcmItem* prior = modified_item(dataset, 0);
  EXPECT_EQ(text(*prior, DCM_PatientName), "AS^SENT");
  EXPECT_TRUE(prior->tagExists(DCM_PatientSex));
  EXPECT_EQ(text(*prior, DCM_PatientSex), "");
  EXPECT_EQ(prior->card(), 2u);

  DcmItem* second = modified_item(dataset, 1);
  EXPECT_EQ(text(*second, DCM_PatientID), "P1");
  // A changed Patient ID brings Issuer of Patient ID along (absent: zero length).
  EXPECT_TRUE(second->tagExists(DCM_IssuerOfPatientID));
  EXPECT_FALSE(text(dataset, DCM_InstanceCoercionDateTime).empty());
}

TEST(OriginalAttributes, ExistingItemsAreKept) {
  DcmDataset dataset;
  DcmItem* earlier = nullptr;
  ASSERT_TRUE(dataset.findOrCreateSequenceItem(DCM_OriginalAttributesSequence, earlier, -2).good());
  earlier->putAndInsertString(DCM_ModifyingSystem, "EARLIER");
  dataset.putAndInsertString(DCM_PatientName, "A");
  OriginalAttributes originals;
  originals.begin_plugin("p");
  originals.before_change(dataset, DCM_PatientName);
  dataset.putAndInsertString(DCM_PatientName, "B");
  std::string error;
  ASSERT_TRUE(originals.write(dataset, "", error)) << error;
  DcmItem* item = nullptr;
  ASSERT_TRUE(dataset.findAndGetSequenceItem(DCM_OriginalAttributesSequence, item, 0).good());
  EXPECT_EQ(text(*item, DCM_ModifyingSystem), "EARLIER");
  ASSERT_TRUE(dataset.findAndGetSequenceItem(DCM_OriginalAttributesSequence, item, 1).good());
  EXPECT_EQ(text(*item, DCM_ModifyingSystem), "p");
}

TEST(OriginalAttributes, PriorValuesTakenBeforeAMoveToUtf8AreConverted) {
  DcmDataset dataset;
  dataset.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 100");
  dataset.putAndInsertString(DCM_PatientName, "G\xE9rard");  // Latin-1
  dataset.putAndInsertString(DCM_PatientSex, "M");
  OriginalAttributes originals;
  originals.begin_plugin("p");
  originals.before_change(dataset, DCM_PatientName);  // taken in Latin-1
  dataset.putAndInsertString(DCM_PatientName, "DOE");
  ASSERT_TRUE(dataset.convertToUTF8().good());  // what dataset_set does for a non-ASCII value
  originals.before_change(dataset, DCM_PatientSex);
  dataset.putAndInsertString(DCM_PatientSex, "F");
  std::string error;
  ASSERT_TRUE(originals.write(dataset, "", error)) << error;
  EXPECT_EQ(text(dataset, DCM_SpecificCharacterSet), "ISO_IR 192");
  DcmItem* prior = modified_item(dataset, 0);
  EXPECT_EQ(text(*prior, DCM_PatientName), "G\xC3\xA9rard");  // UTF-8 now, as the dataset
  EXPECT_EQ(text(*prior, DCM_PatientSex), "M");
}

TEST(OriginalAttributes, NothingChangedWritesNothing) {
  DcmDataset dataset;
  OriginalAttributes originals;
  originals.begin_plugin("p");
  std::string error;
  ASSERT_TRUE(originals.write(dataset, "", error));
  EXPECT_FALSE(dataset.tagExists(DCM_OriginalAttributesSequence));
  EXPECT_FALSE(dataset.tagExists(DCM_InstanceCoercionDateTime));
}

}  // namespace
}  // namespace ossa::plugins
