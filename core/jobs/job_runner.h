#pragma once
// Runs the durable jobs of the index (send to a node, retrieve from a node) inside the server.
//
// Jobs are rows in the index, queued by the facade (XML-RPC, plugins) or by `ossa send` /
// `ossa retrieve` from another process. Workers claim them one at a time, record progress after
// every instance, and on failure to reach the node retry with exponential backoff. A send resumes
// after a restart where it stopped, so the destination sees at most the one instance that was in
// flight twice (same SOP Instance UID, which DICOM allows). A slow or vanished node only occupies
// its worker: associations and other jobs go on.

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "archive/archive.h"
#include "dicom/scu.h"
#include "index/index.h"

namespace ossa::jobs {

struct JobRunnerOptions {
  dicom::ScuOptions scu;
  int workers = 2;
  int max_attempts = 8;
};

class JobRunner {
 public:
  JobRunner(archive::Archive& archive, JobRunnerOptions options);
  ~JobRunner();  // stops: running jobs halt at their next instance and go back to pending
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  void start();

 private:
  void work();
  void run(index::Job& job);
  // Returns an error text for a retryable failure to reach the node; empty when the job ended.
  std::string run_send(index::Job& job, const archive::Node& node);
  std::string run_retrieve(index::Job& job, const archive::Node& node);
  void retry_or_fail(const index::Job& job, const std::string& error);

  archive::Archive& archive_;
  JobRunnerOptions options_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> workers_;
};

// The query selecting a job's entities: `level` ("PATIENT".."IMAGE") and its unique keys.
index::FindQuery job_query(const std::string& level, const std::string& uids);

}  // namespace ossa::jobs
