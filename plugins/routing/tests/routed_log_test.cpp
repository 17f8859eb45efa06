// The routing plugin's durable record of queued sends: reload, torn last line, rotation.

#include "routed_log.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using ossa::routing::RoutedLog;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "ossa-routing-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(RoutedLog, RecordsSurviveAReopen) {
  TempDir tmp;
  const std::string dir = (tmp.path() / "state" / "routing").string();  // created on open
  std::string error;
  {
    RoutedLog log;
    ASSERT_TRUE(log.open(dir, 100, true, error)) << error;
    EXPECT_TRUE(log.durable());
    EXPECT_FALSE(log.contains("1.2.3|A"));
    ASSERT_TRUE(log.add({"1.2.3|A", "1.2.3|B"}, error)) << error;
    ASSERT_TRUE(log.add({}, error));
    EXPECT_TRUE(log.contains("1.2.3|A"));
  }
  EXPECT_EQ(read(fs::path(dir) / "routed.log"), "1.2.3|A\n1.2.3|B\n");
  RoutedLog again;
  ASSERT_TRUE(again.open(dir, 100, true, error)) << error;
  EXPECT_TRUE(again.contains("1.2.3|A"));
  EXPECT_TRUE(again.contains("1.2.3|B"));
  EXPECT_FALSE(again.contains("1.2.3|C"));
  EXPECT_EQ(again.size(), 2u);
}

TEST(RoutedLog, ALineCutShortByACrashIsDropped) {
  TempDir tmp;
  const std::string dir = tmp.path().string();
  {
    std::ofstream out(tmp.path() / "routed.log", std::ios::binary);
    out << "1.2.3|A\n1.2.4|A";  // the second append did not finish
  }
  std::string error;
  RoutedLog log;
  ASSERT_TRUE(log.open(dir, 100, false, error)) << error;
  EXPECT_TRUE(log.contains("1.2.3|A"));
  EXPECT_FALSE(log.contains("1.2.4|A"));
  ASSERT_TRUE(log.add({"1.2.5|A"}, error));
  EXPECT_EQ(read(tmp.path() / "routed.log"), "1.2.3|A\n1.2.5|A\n");
}

TEST(RoutedLog, RotationKeepsTwoGenerations) {
  TempDir tmp;
  const std::string dir = tmp.path().string();
  std::string error;
  RoutedLog log;
  ASSERT_TRUE(log.open(dir, 3, true, error)) << error;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log.add({"sop" + std::to_string(i) + "|A"}, error));
  // Generations of at most 3: {6,7,8} in routed.1.log, {9} in routed.log; older ones are gone.
  EXPECT_LE(log.size(), 6u);
  EXPECT_TRUE(log.contains("sop9|A"));
  EXPECT_TRUE(log.contains("sop8|A"));
  EXPECT_TRUE(log.contains("sop6|A"));
  EXPECT_FALSE(log.contains("sop0|A"));
  EXPECT_EQ(read(tmp.path() / "routed.1.log"), "sop6|A\nsop7|A\nsop8|A\n");
  EXPECT_EQ(read(tmp.path() / "routed.log"), "sop9|A\n");
  RoutedLog again;
  ASSERT_TRUE(again.open(dir, 3, true, error)) << error;
  EXPECT_TRUE(again.contains("sop6|A"));
  EXPECT_TRUE(again.contains("sop9|A"));
  EXPECT_FALSE(again.contains("sop5|A"));
}

TEST(RoutedLog, MemoryOnlyWithoutADirectory) {
  std::string error;
  RoutedLog log;
  ASSERT_TRUE(log.open("", 2, true, error));
  EXPECT_FALSE(log.durable());
  ASSERT_TRUE(log.add({"a", "b", "c", "d", "e"}, error));
  EXPECT_TRUE(log.contains("e"));
  EXPECT_TRUE(log.contains("d"));
  EXPECT_FALSE(log.contains("a"));
  EXPECT_LE(log.size(), 4u);
}

TEST(RoutedLog, AnUnusableDirectoryIsAnError) {
  TempDir tmp;
  { std::ofstream out(tmp.path() / "file"); }
  std::string error;
  RoutedLog log;
  EXPECT_FALSE(log.open((tmp.path() / "file" / "sub").string(), 10, true, error));
  EXPECT_FALSE(error.empty());
}

}  // namespace
