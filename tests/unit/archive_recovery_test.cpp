// Start-up recovery of the ingest pipeline's crash window (core/archive/ingest_pipeline.h): a batch
// is committed without its own flush and made durable by one syncfs together with its files, so a
// power loss can keep an index row whose tmp/ file never reached the disk. Such an instance was
// never acknowledged; start-up must drop its row, and keep (and move into place) the rest.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>

#include "archive/archive.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dicom/instance_reader.h"
#include "index/index.h"
#include "index/sqlite_index.h"
#include "storage/file_store.h"
#include "temp_dir.h"
#include "test_instances.h"

namespace {

namespace fs = std::filesystem;
using ossa::archive::Archive;
using ossa::archive::ArchiveOptions;
using ossa::testing::TempDir;

using ossa::testing::write_ct_instance;

class ArchiveRecoveryTest : public ::testing::Test {
 protected:
  TempDir dir_;
  ArchiveOptions options() const {
    ArchiveOptions o;
    o.storage_root = dir_.path() / "storage";
    o.index.file = dir_.path() / "index.sqlite";
    o.prepare_temp_files = false;
    return o;
  }

  // What a crash leaves when the batch's transaction reached the disk: the row, pointing at a
  // file still in tmp/ (renames come after the flush). Returns the tmp/ path.
  fs::path committed_but_not_moved(const std::string& sop_uid) {
    const ossa::storage::FileStore store(options().storage_root);
    const fs::path temp = store.new_temp_path();
    write_ct_instance(temp, sop_uid);
    ossa::dicom::InstanceFileInfo info = ossa::dicom::read_instance_file(temp);
    info.record.file_path = ossa::storage::FileStore::relative_path_for(temp);
    info.record.file_size = fs::file_size(temp);
    ossa::index::SqliteIndex index(options().index.file);
    index.store_instances({&info.record}, ossa::index::DuplicatePolicy::kOverwrite);
    return temp;
  }

  static size_t files_in(const fs::path& folder) {
    size_t n = 0;
    for (const auto& entry : fs::directory_iterator(folder)) n += entry.is_regular_file();
    return n;
  }
};

TEST_F(ArchiveRecoveryTest, KeepsFlushedFilesAndDropsRowsWhoseFilesDidNotReachTheDisk) {
  const fs::path source = dir_.path() / "first.dcm";
  write_ct_instance(source, "1.2.826.0.1.3680043.8.498.1.1.1");
  {
    Archive archive(options());
    ASSERT_TRUE(archive.ingest_copy(source).ok());
  }
  // Three rows committed in the last batch before the crash; their files are in tmp/:
  const fs::path complete = committed_but_not_moved("1.2.826.0.1.3680043.8.498.1.1.2");
  const fs::path truncated = committed_but_not_moved("1.2.826.0.1.3680043.8.498.1.1.3");
  const fs::path emptied = committed_but_not_moved("1.2.826.0.1.3680043.8.498.1.1.4");
  fs::resize_file(truncated, fs::file_size(truncated) / 2);  // data partly written
  fs::resize_file(emptied, 0);                               // a pooled empty file, never filled
  const fs::path tmp = options().storage_root / "tmp";
  ASSERT_EQ(files_in(tmp), 3u);

  Archive archive(options());
  EXPECT_TRUE(archive.recovered_at_start());
  ossa::index::Index& index = archive.index();
  EXPECT_TRUE(index.has_instance("1.2.826.0.1.3680043.8.498.1.1.1"));
  EXPECT_TRUE(index.has_instance("1.2.826.0.1.3680043.8.498.1.1.2"));
  EXPECT_FALSE(index.has_instance("1.2.826.0.1.3680043.8.498.1.1.3"));
  EXPECT_FALSE(index.has_instance("1.2.826.0.1.3680043.8.498.1.1.4"));
  EXPECT_EQ(index.counts().instances, 2);
  EXPECT_EQ(files_in(tmp), 0u);
  // The complete one is in place and readable where the index says it is.
  const std::optional<std::string> path = index.file_of_instance("1.2.826.0.1.3680043.8.498.1.1.2");
  ASSERT_TRUE(path.has_value());
  EXPECT_TRUE(fs::exists(options().storage_root / *path));
  EXPECT_TRUE(index.pending_files().empty());
  // A dropped instance can be received again.
  const fs::path again = dir_.path() / "again.dcm";
  write_ct_instance(again, "1.2.826.0.1.3680043.8.498.1.1.3");
  EXPECT_EQ(archive.ingest_copy(again).kind, ossa::archive::IngestResult::Kind::kStored);
}

TEST_F(ArchiveRecoveryTest, PreparedFilesAreCheckedUnderTheirFinalNames) {
  // The usual case: instances written into files the pool prepared in their final folders. A
  // crash between the commit and the flush leaves them indexed, with their tmp/ names.
  const std::string complete_uid = "1.2.826.0.1.3680043.8.498.1.1.5";
  const std::string truncated_uid = "1.2.826.0.1.3680043.8.498.1.1.6";
  fs::path complete, truncated;
  {
    ossa::storage::FileStore store(options().storage_root);
    store.start_temp_pool(8);
    ossa::index::SqliteIndex index(options().index.file);
    for (int i = 0; i < 300 && truncated.empty(); ++i) {
      const fs::path taken = store.new_temp_path();
      if (taken.parent_path() == store.temp_dir()) {  // not prepared yet
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      (complete.empty() ? complete : truncated) = taken;
    }
    ASSERT_FALSE(truncated.empty()) << "the pool prepared nothing";
    for (const auto& [file, uid] :
         {std::pair{complete, complete_uid}, {truncated, truncated_uid}}) {
      write_ct_instance(file, uid);
      ossa::dicom::InstanceFileInfo info = ossa::dicom::read_instance_file(file);
      info.record.file_path = ossa::storage::FileStore::relative_path_for(file);
      info.record.file_size = fs::file_size(file);
      index.store_instances({&info.record}, ossa::index::DuplicatePolicy::kOverwrite);
    }
    fs::resize_file(truncated, fs::file_size(truncated) / 2);  // its data partly on disk
  }
  const fs::path tmp = options().storage_root / "tmp";
  ASSERT_EQ(files_in(tmp), 2u);

  Archive archive(options());
  ossa::index::Index& index = archive.index();
  EXPECT_TRUE(index.has_instance(complete_uid));
  EXPECT_FALSE(index.has_instance(truncated_uid));
  EXPECT_TRUE(fs::exists(complete));
  EXPECT_EQ(fs::hard_link_count(complete), 1u);
  EXPECT_FALSE(fs::exists(truncated));
  EXPECT_EQ(files_in(tmp), 0u);
  EXPECT_EQ(*index.file_of_instance(complete_uid),
            ossa::storage::FileStore::relative_path_for(complete));
}

TEST_F(ArchiveRecoveryTest, AReplacementLeavesNoTraceOfTheReplacedFile) {
  // storage.duplicates: overwrite. The pipeline flushes a replacing file before committing, so
  // the replaced file may be deleted once the batch is durable; here: the replacement is stored
  // and the first file is gone, nothing left in tmp/ or the journal.
  const fs::path source = dir_.path() / "one.dcm";
  write_ct_instance(source, "1.2.826.0.1.3680043.8.498.1.1.9");
  Archive archive(options());
  ASSERT_EQ(archive.ingest_copy(source).kind, ossa::archive::IngestResult::Kind::kStored);
  const std::string first = *archive.index().file_of_instance("1.2.826.0.1.3680043.8.498.1.1.9");
  ASSERT_EQ(archive.ingest_copy(source).kind, ossa::archive::IngestResult::Kind::kReplaced);
  const std::string second = *archive.index().file_of_instance("1.2.826.0.1.3680043.8.498.1.1.9");
  EXPECT_NE(first, second);
  EXPECT_FALSE(fs::exists(options().storage_root / first));
  EXPECT_TRUE(fs::exists(options().storage_root / second));
  EXPECT_TRUE(archive.index().pending_files().empty());
  EXPECT_EQ(files_in(options().storage_root / "tmp"), 0u);
}

// What a send job reads before sending: the location of one instance, by SOP Instance UID.
ossa::index::FindQuery instance_query(const std::string& sop_instance_uid) {
  ossa::index::FindQuery query;
  query.level = ossa::index::Level::kInstance;
  query.conditions.push_back(
      ossa::index::make_condition(ossa::index::tags::kSopInstanceUid, ossa::index::Level::kInstance,
                                  ossa::index::ValueKind::kUid, sop_instance_uid));
  return query;
}

TEST_F(ArchiveRecoveryTest, ALocationReadBeforeAReplacementLeadsToTheNewFile) {
  // A send job (or a C-MOVE) reads its instances' locations, then sends them one by one; one of
  // them replaced meanwhile must still be sent, from its new file.
  const std::string uid = "1.2.826.0.1.3680043.8.498.1.1.10";
  const fs::path source = dir_.path() / "two.dcm";
  write_ct_instance(source, uid);
  Archive archive(options());
  ASSERT_EQ(archive.ingest_copy(source).kind, ossa::archive::IngestResult::Kind::kStored);
  const std::vector<ossa::index::InstanceLocation> read_before =
      archive.instances_for(instance_query(uid));
  ASSERT_EQ(read_before.size(), 1u);
  const fs::path before = archive.file_of(read_before[0]);
  ASSERT_TRUE(fs::exists(before));
  ASSERT_EQ(archive.ingest_copy(source).kind, ossa::archive::IngestResult::Kind::kReplaced);
  ASSERT_FALSE(fs::exists(before));
  const fs::path now = archive.file_of(archive.current_location(read_before[0]));
  EXPECT_NE(now, before);
  EXPECT_TRUE(fs::exists(now));
  EXPECT_EQ(ossa::dicom::read_instance_file(now).sop_instance_uid, uid);
}

TEST_F(ArchiveRecoveryTest, AReplacementInAnotherTransferSyntaxIsSentInItsOwnSyntax) {
  // The sender offers the stored syntax it is told: after a replacement that changed it, the
  // location read before must not lead to the new file with the old syntax.
  const std::string uid = "1.2.826.0.1.3680043.8.498.1.1.11";
  const fs::path explicit_file = dir_.path() / "explicit.dcm";
  const fs::path implicit_file = dir_.path() / "implicit.dcm";
  write_ct_instance(explicit_file, uid, EXS_LittleEndianExplicit);
  write_ct_instance(implicit_file, uid, EXS_LittleEndianImplicit);
  Archive archive(options());
  ASSERT_EQ(archive.ingest_copy(explicit_file).kind, ossa::archive::IngestResult::Kind::kStored);
  const std::vector<ossa::index::InstanceLocation> read_before =
      archive.instances_for(instance_query(uid));
  ASSERT_EQ(read_before.size(), 1u);
  EXPECT_EQ(read_before[0].transfer_syntax_uid, UID_LittleEndianExplicitTransferSyntax);
  EXPECT_EQ(archive.current_location(read_before[0]).file_path, read_before[0].file_path);

  ASSERT_EQ(archive.ingest_copy(implicit_file).kind, ossa::archive::IngestResult::Kind::kReplaced);
  const ossa::index::InstanceLocation now = archive.current_location(read_before[0]);
  EXPECT_NE(now.file_path, read_before[0].file_path);
  EXPECT_EQ(now.transfer_syntax_uid, UID_LittleEndianImplicitTransferSyntax);
  EXPECT_EQ(now.sop_instance_uid, uid);
  EXPECT_EQ(now.sop_class_uid, UID_CTImageStorage);
  EXPECT_TRUE(fs::exists(archive.file_of(now)));
}

}  // namespace
