#pragma once
// Runs the durable jobs of the index (send to a node, retrieve from a node) inside the server.
//
// Jobs are rows in the index, queued by the facade (XML-RPC, plugins) or by `ossa send` /
// `ossa retrieve` from another process. A worker claims the oldest due job, together with other
// due send jobs to the same node (routing queues one job per instance: they share one
// association), records progress every half second, and on failure to reach the node retries
// with exponential backoff. A send resumes after a restart from its last recorded progress, so
// the destination sees at most the last half second's instances twice (same SOP Instance UIDs,
// which DICOM allows). A slow or vanished node only occupies
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
  // Percent of a sender's time while instances arrive (jobs.send_share_while_ingesting).
  int send_share_while_ingesting = 5;
};

// How many due send jobs to one node a worker takes together onto one association.
constexpr size_t kMaxJobsPerAssociation = 64;

class JobRunner {
 public:
  JobRunner(archive::Archive& archive, JobRunnerOptions options);
  ~JobRunner();  // stops: running jobs halt at their next instance and go back to pending
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  void start();

 private:
  void work();
  void run(std::vector<index::Job>& batch);
  // Sends the instances of several send jobs to one node on one association; finishes each job,
  // or schedules its retry when the node could not be reached.
  void run_send(std::vector<index::Job>& jobs, const archive::Node& node);
  // Returns an error text for a retryable failure to reach the node; empty when the job ended.
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
