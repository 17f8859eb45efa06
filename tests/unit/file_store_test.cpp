// The file store (core/storage/file_store.h): path shapes, durable copy/move, removal, tmp cleanup.

#include "storage/file_store.h"

#include <gtest/gtest.h>

#include "temp_dir.h"

#include <chrono>
#include <thread>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <utility>
#include <string>

namespace {

namespace fs = std::filesystem;
using ossa::storage::FileStore;
using ossa::storage::StorageError;

using ossa::testing::TempDir;

void write_file(const fs::path& file, const std::string& content) {
  std::ofstream out(file, std::ios::binary);
  out << content;
  ASSERT_TRUE(out.good()) << file;
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool is_lower_hex(const std::string& s) {
  return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

class FileStoreTest : public ::testing::Test {
 protected:
  TempDir dir_;
  fs::path root() const { return dir_.path() / "storage"; }

  // A temp file as the ingest path makes it: copied, named for its final place.
  fs::path make_temp(const FileStore& store, const std::string& content) {
    const fs::path source = dir_.path() / "source.dcm";
    write_file(source, content);
    return store.copy_to_temp(source);
  }
};

TEST_F(FileStoreTest, ConstructorCreatesFolders) {
  FileStore store(root());
  EXPECT_EQ(store.root(), root());
  EXPECT_EQ(store.temp_dir(), root() / "tmp");
  EXPECT_TRUE(fs::is_directory(root() / "tmp"));
  // The 256 folders "00" .. "ff" are made once, up front.
  int folders = 0;
  for (const auto& entry : fs::directory_iterator(root())) {
    const std::string name = entry.path().filename().string();
    if (name == "tmp") continue;
    SCOPED_TRACE(name);
    EXPECT_TRUE(entry.is_directory());
    EXPECT_EQ(name.size(), 2u);
    EXPECT_TRUE(is_lower_hex(name));
    ++folders;
  }
  EXPECT_EQ(folders, 256);
  EXPECT_GT(store.free_bytes(), 0u);
  // Opening it again is fine.
  FileStore again(root());
  EXPECT_TRUE(fs::is_directory(root() / "00"));
}

TEST_F(FileStoreTest, TempPathsAndTheirRelativePaths) {
  FileStore store(root());
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    const fs::path temp = store.new_temp_path();
    SCOPED_TRACE(temp.string());
    EXPECT_EQ(temp.parent_path(), store.temp_dir());
    EXPECT_EQ(temp.extension(), ".dcm");
    const std::string stem = temp.stem().string();
    EXPECT_EQ(stem.size(), 32u);
    EXPECT_TRUE(is_lower_hex(stem));
    EXPECT_FALSE(fs::exists(temp));  // nothing is created

    const std::string p = FileStore::relative_path_for(temp);
    ASSERT_EQ(p.size(), 39u);
    EXPECT_EQ(p, stem.substr(0, 2) + "/" + stem + ".dcm");
    EXPECT_TRUE(FileStore::is_valid_relative_path(p));
    EXPECT_TRUE(seen.insert(p).second) << "duplicate";
    EXPECT_EQ(store.absolute(p), root() / p);
  }
}

TEST(FileNames, InstancesArrivingTogetherShareAFolderAndEveryFolderGetsItsTurn) {
  using std::chrono::microseconds;
  const std::chrono::system_clock::time_point start{microseconds(0x3456789LL << 23)};
  std::set<std::string> folders;
  std::set<std::string> names;
  for (int period = 0; period < 256; ++period) {
    const auto begins = start + microseconds(static_cast<long long>(period) << 23);
    const std::string first = FileStore::file_name_at(begins);
    const std::string last = FileStore::file_name_at(begins + microseconds((1 << 23) - 1));
    SCOPED_TRACE(first + " " + last);
    EXPECT_EQ(first.substr(0, 2), last.substr(0, 2));  // ~8.4 s in one folder
    EXPECT_TRUE(FileStore::is_valid_relative_path(first.substr(0, 2) + "/" + first));
    folders.insert(first.substr(0, 2));
    names.insert(first);
    names.insert(last);
  }
  EXPECT_EQ(folders.size(), 256u);  // then the next one, and so through all of them
  // The same microsecond still gives different names (64 random bits).
  for (int i = 0; i < 1000; ++i) names.insert(FileStore::file_name_at(start));
  EXPECT_EQ(names.size(), 2 * 256u + 1000u);
}

TEST_F(FileStoreTest, RelativePathForRejectsForeignNames) {
  const fs::path bad[] = {
      "tmp/foo.part",
      "tmp/A1F0123456789ABCDEF0123456789AB.dcm",  // upper case
      "tmp/a1f0123456789abcdef0123456789a.dcm",   // too short
      "tmp/a1f0123456789abcdef0123456789ab.part",
      "tmp/",
      "",
  };
  for (const auto& p : bad) {
    SCOPED_TRACE(p.string());
    try {
      FileStore::relative_path_for(p);
      ADD_FAILURE() << "accepted";
    } catch (const StorageError& e) {
      EXPECT_EQ(e.error_number(), EINVAL);
    }
  }
}

TEST_F(FileStoreTest, RejectsPathsNotMadeByOssa) {
  FileStore store(root());
  const std::string good = "a1/a1f0123456789abcdef0123456789abc.dcm";
  ASSERT_EQ(good.size(), 39u);
  ASSERT_TRUE(FileStore::is_valid_relative_path(good));
  const std::string bad[] = {
      "",
      "../etc/passwd",
      "/etc/passwd",
      (root() / good).string(),                    // absolute
      "/" + good.substr(1),                        // absolute, right length
      "a1/a1f0123456789abcdef0123456789ab.dcm",    // one digit short
      "a1/a1f0123456789abcdef0123456789abcd.dcm",  // one digit long
      "a1/A1F0123456789ABCDEF0123456789ABC.dcm",   // upper case hex
      "A1/A1f0123456789abcdef0123456789abc.dcm",   // upper case folder
      "a1/a1f0123456789abcdef0123456789abc.DCM",   // extension case
      "a1/a1f0123456789abcdef0123456789abcxdcm",   // no dot
      "b1/a1f0123456789abcdef0123456789abc.dcm",   // folder is not the name's prefix
      "a1\\a1f0123456789abcdef0123456789abc.dcm",  // backslash
      "../a1f0123456789abcdef0123456789abc.dcm",   // parent folder
      "a1/../../../../../../../../../tmp/x.dcm",   // traversal, right length
      "a1/a1f0123456789abcdef0123456789abc.dc\n",  // control character
      std::string("a1/a1f012345678\0abcdef0123456789abc.dcm", 39),  // embedded NUL
      "a1/a1f0123456789abcdef0123456789abc.dcm/",                   // trailing slash
      "a1/a1g0123456789abcdef0123456789abc.dcm",                    // not hex
      "a1f/a1f0123456789abcdef0123456789abc.dcm",                   // the former 3-digit layout
  };
  for (const auto& p : bad) {
    SCOPED_TRACE("'" + p + "'");
    EXPECT_FALSE(FileStore::is_valid_relative_path(p));
    try {
      store.absolute(p);
      ADD_FAILURE() << "absolute() accepted it";
    } catch (const StorageError& e) {
      EXPECT_EQ(e.error_number(), EINVAL);
    }
    EXPECT_FALSE(store.remove(p));
  }
}

TEST_F(FileStoreTest, CopyMoveRoundTrip) {
  FileStore store(root());
  // Larger than the copy buffer (64 KiB), with every byte value.
  std::string content;
  for (int i = 0; i < 200000; ++i) content += static_cast<char>((i * 7) & 0xff);
  const fs::path source = dir_.path() / "source.dcm";
  write_file(source, content);

  const fs::path temp = store.copy_to_temp(source);
  EXPECT_EQ(temp.parent_path(), store.temp_dir());
  EXPECT_EQ(read_file(temp), content);
  EXPECT_EQ(read_file(source), content);  // the source is untouched
  EXPECT_NO_THROW(store.sync_temp_entries({temp}));

  const std::string relative = FileStore::relative_path_for(temp);
  store.move_into_place(temp);
  const fs::path target = root() / relative;
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(read_file(target), content);
  EXPECT_TRUE(fs::is_empty(store.temp_dir()));
}

TEST_F(FileStoreTest, CopyOfEmptyFile) {
  FileStore store(root());
  const fs::path temp = make_temp(store, "");
  EXPECT_TRUE(fs::exists(temp));
  EXPECT_EQ(fs::file_size(temp), 0u);
}

TEST_F(FileStoreTest, CopyOfMissingSourceFailsCleanly) {
  FileStore store(root());
  try {
    store.copy_to_temp(dir_.path() / "missing.dcm");
    ADD_FAILURE() << "no error";
  } catch (const StorageError& e) {
    EXPECT_EQ(e.error_number(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("missing.dcm"), std::string::npos) << e.what();
    EXPECT_FALSE(e.is_disk_full());
  }
  EXPECT_TRUE(fs::is_empty(store.temp_dir()));
}

TEST_F(FileStoreTest, MoveIntoPlaceRefusesForeignTempFiles) {
  FileStore store(root());
  const fs::path foreign = store.temp_dir() / "upload.part";
  write_file(foreign, "data");
  EXPECT_THROW(store.move_into_place(foreign), StorageError);
  EXPECT_TRUE(fs::exists(foreign));
  // A temp file that is not there: an error, not a silent success.
  try {
    store.move_into_place(store.new_temp_path());
    ADD_FAILURE() << "no error";
  } catch (const StorageError& e) {
    EXPECT_EQ(e.error_number(), ENOENT);
  }
}

TEST_F(FileStoreTest, Remove) {
  FileStore store(root());
  const fs::path temp = make_temp(store, "data");
  const std::string relative = FileStore::relative_path_for(temp);
  store.move_into_place(temp);
  ASSERT_TRUE(fs::exists(root() / relative));
  EXPECT_TRUE(store.remove(relative));
  EXPECT_FALSE(fs::exists(root() / relative));
  // Missing file: not an error.
  EXPECT_TRUE(store.remove(relative));
  EXPECT_TRUE(store.remove("ff/ff000000000000000000000000000000.dcm"));
  // Only files of Ossa's shape are ever touched.
  write_file(root() / "keep.dcm", "x");
  EXPECT_FALSE(store.remove("keep.dcm"));
  EXPECT_TRUE(fs::exists(root() / "keep.dcm"));
}

TEST_F(FileStoreTest, RecoverTempMovesIndexedFilesAndDeletesTheRest) {
  FileStore store(root());
  const fs::path indexed = make_temp(store, "indexed");
  const fs::path unknown = make_temp(store, "unknown");
  write_file(store.temp_dir() / "junk.part", "junk");
  write_file(store.temp_dir() / "x", "short name");
  // An instance already in place is not touched.
  const fs::path placed = make_temp(store, "placed");
  const std::string placed_relative = FileStore::relative_path_for(placed);
  store.move_into_place(placed);

  const std::string indexed_relative = FileStore::relative_path_for(indexed);
  const std::string unknown_relative = FileStore::relative_path_for(unknown);
  std::set<std::string> asked;
  const auto [moved, deleted] =
      store.recover_temp([&](const std::string& relative, const fs::path&) {
        asked.insert(relative);
        return relative == indexed_relative || relative == placed_relative;
      });
  EXPECT_EQ(moved, 1u);
  EXPECT_EQ(deleted, 3u);
  // Only names of Ossa's shape are looked up.
  EXPECT_EQ(asked, (std::set<std::string>{indexed_relative, unknown_relative}));
  EXPECT_TRUE(fs::is_empty(store.temp_dir()));
  EXPECT_EQ(read_file(root() / indexed_relative), "indexed");
  EXPECT_FALSE(fs::exists(root() / unknown_relative));
  EXPECT_EQ(read_file(root() / placed_relative), "placed");

  // Nothing left to do the second time.
  const auto again = store.recover_temp([](const std::string&, const fs::path&) { return true; });
  EXPECT_EQ(again, (std::pair<size_t, size_t>{0, 0}));
}

TEST_F(FileStoreTest, RecoverTempKeepsIndexedPreparedFilesAndDeletesTheRestUnderBothNames) {
  std::string indexed_relative, unknown_relative;
  {
    FileStore store(root());
    store.start_temp_pool(8);
    fs::path indexed, unknown;
    for (int i = 0; i < 200 && indexed.empty(); ++i) {
      const fs::path taken = store.new_temp_path();
      if (taken.parent_path() != store.temp_dir()) {
        indexed = taken;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_FALSE(indexed.empty()) << "the pool prepared nothing";
    unknown = store.new_temp_path();
    ASSERT_NE(unknown.parent_path(), store.temp_dir());
    write_file(indexed, "indexed");
    write_file(unknown, "transfer that never completed");
    indexed_relative = FileStore::relative_path_for(indexed);
    unknown_relative = FileStore::relative_path_for(unknown);
    // A crash now: neither was settled, so both keep their tmp/ names.
  }
  FileStore store(root());
  ASSERT_TRUE(fs::exists(store.temp_dir() / fs::path(indexed_relative).filename()));
  std::map<std::string, fs::path> checked;
  const auto [kept, deleted] =
      store.recover_temp([&](const std::string& relative, const fs::path& file) {
        checked[relative] = file;
        return relative == indexed_relative;
      });
  EXPECT_EQ(kept, 1u);
  EXPECT_EQ(deleted, 1u);
  // The file checked is the one under the final name (what the index points at).
  EXPECT_EQ(checked[indexed_relative], root() / indexed_relative);
  EXPECT_EQ(read_file(root() / indexed_relative), "indexed");
  EXPECT_EQ(fs::hard_link_count(root() / indexed_relative), 1u);
  EXPECT_FALSE(fs::exists(root() / unknown_relative));
  EXPECT_TRUE(fs::is_empty(store.temp_dir()));
}

TEST(StorageError, DiskFull) {
  EXPECT_TRUE(StorageError("x", ENOSPC).is_disk_full());
  EXPECT_TRUE(StorageError("x", EDQUOT).is_disk_full());
  EXPECT_FALSE(StorageError("x", EIO).is_disk_full());
  EXPECT_EQ(StorageError("x", EIO).error_number(), EIO);
}

}  // namespace

TEST_F(FileStoreTest, TempPoolHandsOutReadyEmptyFilesAndCleansUp) {
  // Every .dcm file under the store, tmp/ included.
  const auto files_under = [this] {
    size_t n = 0;
    for (const auto& entry : fs::recursive_directory_iterator(root()))
      n += entry.is_regular_file() && entry.path().extension() == ".dcm";
    return n;
  };
  fs::path kept;
  {
    FileStore store(root());
    store.start_temp_pool(8);
    // The pool fills in the background; wait (bounded) for its first files.
    for (int i = 0; i < 200 && fs::is_empty(store.temp_dir()); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_FALSE(fs::is_empty(store.temp_dir()));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the final names follow

    // A prepared file is empty, in its final folder, and also named in tmp/ (the same inode).
    kept = store.new_temp_path();
    const std::string relative = FileStore::relative_path_for(kept);
    EXPECT_EQ(kept, root() / relative);
    const fs::path kept_temp_name = store.temp_dir() / kept.filename();
    ASSERT_TRUE(fs::exists(kept_temp_name));
    EXPECT_TRUE(fs::equivalent(kept, kept_temp_name));
    EXPECT_EQ(fs::hard_link_count(kept), 2u);
    EXPECT_EQ(fs::file_size(kept), 0u);
    write_file(kept, "stored");
    // Stored: nothing moves, and the tmp/ name goes in the next cleanup.
    store.move_into_place(kept);
    EXPECT_EQ(read_file(kept), "stored");
    store.drop_released_temp_names();
    EXPECT_FALSE(fs::exists(kept_temp_name));
    EXPECT_EQ(fs::hard_link_count(kept), 1u);

    // Discarded: both names go.
    const fs::path discarded = store.new_temp_path();
    ASSERT_NE(discarded.parent_path(), store.temp_dir());
    write_file(discarded, "partial transfer");
    store.discard_temp(discarded);
    EXPECT_FALSE(fs::exists(discarded));
    store.drop_released_temp_names();
    EXPECT_FALSE(fs::exists(store.temp_dir() / discarded.filename()));
  }
  // Files nobody took are deleted with the store, under both names; the stored one stays.
  EXPECT_TRUE(fs::is_empty(root() / "tmp"));
  EXPECT_EQ(files_under(), 1u);
  EXPECT_EQ(read_file(kept), "stored");
}
