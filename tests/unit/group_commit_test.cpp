// Group commit's gathering (core/archive/ingest_pipeline.h): senders that hand over one instance
// after another share flushes instead of taking turns.

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "archive/ingest_pipeline.h"
#include "archive/ingest_stream.h"
#include "dicom/instance_reader.h"
#include "index/sqlite_index.h"
#include "storage/file_store.h"
#include "storage/filesystem_sync.h"
#include "temp_dir.h"
#include "test_instances.h"

namespace {

namespace fs = std::filesystem;
using ossa::archive::GatherWindow;
using ossa::archive::IngestPipeline;
using ossa::archive::IngestStream;
using ossa::testing::TempDir;

class GroupCommitTest : public ::testing::Test {
 protected:
  TempDir dir_;
  ossa::storage::FileStore store_{dir_.path() / "storage"};
  ossa::index::SqliteIndex index_{dir_.path() / "index.sqlite"};
  ossa::storage::FilesystemSync durability_{{dir_.path()}};

  // Writes an instance into tmp/ and hands it to the pipeline, as an association does.
  void commit_one(IngestPipeline& pipeline, const std::string& sop_uid, IngestStream* stream) {
    const fs::path temp = store_.new_temp_path();
    ossa::testing::write_ct_instance(temp, sop_uid);
    ossa::dicom::InstanceFileInfo info = ossa::dicom::read_instance_file(temp);
    pipeline.commit(info.record, temp, stream);
  }

  // `senders` threads each commit `count` instances one after another; returns how many batches
  // (flushes) it took.
  uint64_t run_senders(int senders, int count, bool as_streams, GatherWindow window) {
    IngestPipeline pipeline(store_, index_, ossa::index::DuplicatePolicy::kOverwrite, durability_,
                            window);
    std::vector<std::thread> threads;
    std::atomic<int> started{0};
    for (int s = 0; s < senders; ++s) {
      threads.emplace_back([&, s] {
        IngestStream stream;
        // All begin together: a thread started late would send its first rounds alone.
        ++started;
        while (started.load() < senders) std::this_thread::yield();
        for (int i = 0; i < count; ++i) {
          commit_one(pipeline,
                     "1.2.826.0.1.3680043.8.498.2.1." + std::to_string(s) + "." +
                         std::to_string(i) + (as_streams ? ".1" : ".2"),
                     as_streams ? &stream : nullptr);
        }
      });
    }
    for (auto& t : threads) t.join();
    const ossa::archive::IngestStats stats = pipeline.stats();
    EXPECT_EQ(stats.instances, static_cast<uint64_t>(senders * count));
    return stats.batches;
  }
};

TEST_F(GroupCommitTest, SendersThatComeBackShareOneFlushPerRound) {
  // A window far longer than a sender takes to prepare its next instance: every round is one
  // batch (a few rounds may split when a thread is descheduled). Taking turns would be 2 per round.
  constexpr int kRounds = 30;
  const uint64_t batches = run_senders(
      2, kRounds, true, GatherWindow{std::chrono::milliseconds(50), std::chrono::milliseconds(50)});
  EXPECT_LE(batches, kRounds * 5 / 4) << "batches: " << batches;
}

TEST_F(GroupCommitTest, SendersNotKnownToComeBackAreNeverWaitedFor) {
  // Without IngestStream nobody is expected back, so even a long window is never used: 20
  // instances one after another take far less than 20 windows of 1 s.
  const auto started = std::chrono::steady_clock::now();
  run_senders(1, 20, false, GatherWindow{std::chrono::seconds(1), std::chrono::seconds(1)});
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST_F(GroupCommitTest, SendersSlowerThanTheWindowAreNotWaitedFor) {
  // Two streams that always take 400 ms to come back (a large instance on its way, say), window
  // 200 ms: once that is known (the first returns), nobody's instance waits for the other.
  IngestPipeline pipeline(
      store_, index_, ossa::index::DuplicatePolicy::kOverwrite, durability_,
      GatherWindow{std::chrono::milliseconds(200), std::chrono::milliseconds(200)});
  std::vector<std::chrono::steady_clock::duration> waits[2];
  std::vector<std::thread> threads;
  for (int s = 0; s < 2; ++s) {
    threads.emplace_back([&, s] {
      IngestStream stream;
      std::this_thread::sleep_for(std::chrono::milliseconds(150 * s));  // not in step
      for (int i = 0; i < 5; ++i) {
        const auto started = std::chrono::steady_clock::now();
        commit_one(pipeline,
                   "1.2.826.0.1.3680043.8.498.2.4." + std::to_string(s) + "." + std::to_string(i),
                   &stream);
        waits[s].push_back(std::chrono::steady_clock::now() - started);
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int s = 0; s < 2; ++s) {
    // From the third instance on (two returns measured), a commit costs a flush, not a window.
    for (size_t i = 2; i < waits[s].size(); ++i) {
      EXPECT_LT(waits[s][i], std::chrono::milliseconds(150))
          << "sender " << s << ", instance " << i;
    }
  }
}

TEST_F(GroupCommitTest, ASenderThatStopsIsWaitedForOnlyOnce) {
  // One stream sends a single instance and stops; another sender (not a stream) then sends 20.
  // Only the first of its batches may wait (1 s) for the stream that never comes back.
  IngestPipeline pipeline(store_, index_, ossa::index::DuplicatePolicy::kOverwrite, durability_,
                          GatherWindow{std::chrono::seconds(1), std::chrono::seconds(1)});
  IngestStream stopping;
  commit_one(pipeline, "1.2.826.0.1.3680043.8.498.2.3.0", &stopping);
  const auto started = std::chrono::steady_clock::now();
  for (int i = 1; i <= 20; ++i) {
    commit_one(pipeline, "1.2.826.0.1.3680043.8.498.2.3." + std::to_string(i), nullptr);
  }
  // Waiting at every batch would take 20 s; once is 1 s plus 20 flushes.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(8));
  EXPECT_EQ(pipeline.stats().batches, 21u);
}

}  // namespace
