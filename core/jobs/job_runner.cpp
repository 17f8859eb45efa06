#include "jobs/job_runner.h"

#include <algorithm>
#include <chrono>
#include <ctime>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "util/log.h"

namespace ossa::jobs {
namespace {

int64_t unix_now() {
  return static_cast<int64_t>(std::time(nullptr));
}

bool parse_level(const std::string& text, index::Level& level) {
  if (text == "PATIENT")
    level = index::Level::kPatient;
  else if (text == "STUDY")
    level = index::Level::kStudy;
  else if (text == "SERIES")
    level = index::Level::kSeries;
  else if (text == "IMAGE")
    level = index::Level::kInstance;
  else
    return false;
  return true;
}

const DcmTagKey& unique_key(index::Level level) {
  static const DcmTagKey kKeys[] = {DCM_PatientID, DCM_StudyInstanceUID, DCM_SeriesInstanceUID,
                                    DCM_SOPInstanceUID};
  return kKeys[static_cast<int>(level)];
}

}  // namespace

index::FindQuery job_query(const std::string& level_text, const std::string& uids) {
  index::FindQuery q;
  index::Level level = index::Level::kStudy;
  parse_level(level_text, level);
  q.level = level;
  const DcmTagKey& key = unique_key(level);
  const auto kind =
      level == index::Level::kPatient ? index::ValueKind::kText : index::ValueKind::kUid;
  q.conditions.push_back(
      index::make_condition(index::tag(key.getGroup(), key.getElement()), level, kind, uids));
  return q;
}

JobRunner::JobRunner(archive::Archive& archive, JobRunnerOptions options)
    : archive_(archive), options_(std::move(options)) {}

JobRunner::~JobRunner() {
  stopping_ = true;
  for (auto& t : workers_) t.join();
  // Interrupted jobs were left running; they resume at the next start.
  archive_.index().requeue_running_jobs();
}

void JobRunner::start() {
  const size_t requeued = archive_.index().requeue_running_jobs();
  if (requeued) log::info("jobs: resuming ", requeued, " job(s) interrupted by the last stop");
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { work(); });
}

void JobRunner::work() {
  while (!stopping_) {
    std::optional<index::Job> job;
    try {
      job = archive_.index().claim_job(unix_now());
    } catch (const std::exception& e) {
      log::error("jobs: cannot read the job table: ", e.what());
    }
    if (!job) {
      for (int i = 0; i < 10 && !stopping_; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    try {
      run(*job);
    } catch (const std::exception& e) {
      log::error("job ", job->id, " failed: ", e.what());
      archive_.index().finish_job(job->id, "failed", e.what());
    }
  }
}

void JobRunner::run(index::Job& job) {
  const std::optional<archive::Node> node = archive_.node_by_name(job.node);
  const bool allowed = node && (job.kind == "send" ? node->send : node->retrieve);
  if (!allowed) {
    const std::string why = node ? "node " + job.node + " does not allow " + job.kind +
                                       " (nodes: " + job.kind + ": true)"
                                 : "no declared node named " + job.node;
    log::warning("job ", job.id, ": ", why);
    archive_.index().finish_job(job.id, "failed", why);
    return;
  }
  index::Level level;
  if (!parse_level(job.level, level) || job.uids.empty()) {
    archive_.index().finish_job(job.id, "failed", "bad level or keys");
    return;
  }
  log::info("job ", job.id, ": ", job.kind, " ", job.level, " ", job.uids, " ",
            job.kind == "send" ? "to " : "from ", node->name, " (attempt ", job.attempts, ")");
  const std::string error = job.kind == "send" ? run_send(job, *node) : run_retrieve(job, *node);
  if (!error.empty()) retry_or_fail(job, error);
}

void JobRunner::retry_or_fail(const index::Job& job, const std::string& error) {
  if (stopping_) return;  // requeued by the destructor, not a failure of the node
  if (job.attempts >= options_.max_attempts) {
    log::warning("job ", job.id, " failed after ", job.attempts, " attempts: ", error);
    archive_.index().finish_job(job.id, "failed", error);
    return;
  }
  const int64_t delay =
      std::min<int64_t>(int64_t{5} << std::min<int64_t>(job.attempts - 1, 7), 600);
  log::warning("job ", job.id, ": ", error, "; retrying in ", delay, " s");
  archive_.index().retry_job(job.id, error, unix_now() + delay);
}

std::string JobRunner::run_send(index::Job& job, const archive::Node& node) {
  const std::vector<index::InstanceLocation> all =
      archive_.instances_for(job_query(job.level, job.uids));
  // A resumed job skips what it already did (stable order from the index).
  const size_t skip = std::min<size_t>(all.size(), static_cast<size_t>(job.completed + job.failed));
  const std::vector<index::InstanceLocation> rest(all.begin() + static_cast<long>(skip), all.end());
  int64_t completed = job.completed, failed = job.failed;
  const int64_t total = static_cast<int64_t>(all.size());
  archive_.index().update_job_progress(job.id, total, completed, failed);
  bool cancelled = false;
  std::string why;
  const bool ok = dicom::send(
      node, options_.scu, archive_, rest,
      [&](size_t index, const dicom::SubOperationResult& r) {
        if (r.status == 0 || r.is_warning()) {
          ++completed;
        } else {
          ++failed;
          log::warning("job ", job.id, ": ", rest[index].sop_instance_uid, " not sent (0x",
                       std::hex, r.status, std::dec, ") ", r.error);
        }
        archive_.index().update_job_progress(job.id, total, completed, failed);
        if ((completed + failed) % 8 == 0) {
          const auto now = archive_.index().job(job.id);
          cancelled = now && now->state == "cancelled";
        }
        return !cancelled && !stopping_;
      },
      why);
  if (cancelled) {
    log::info("job ", job.id, " cancelled after ", completed, " of ", total);
    return {};
  }
  if (stopping_) return "interrupted by shutdown";
  if (!ok) return why.empty() ? "send failed" : why;
  archive_.index().finish_job(job.id, failed ? "failed" : "done",
                              failed ? std::to_string(failed) + " instance(s) not accepted" : "");
  log::info("job ", job.id, " finished: ", completed, " sent, ", failed, " failed");
  return {};
}

std::string JobRunner::run_retrieve(index::Job& job, const archive::Node& node) {
  index::Level level;
  parse_level(job.level, level);
  DcmDataset identifier;
  identifier.putAndInsertString(DCM_QueryRetrieveLevel, job.level.c_str());
  // Hierarchical keys above the level are not known here; the Patient Root model needs them, so
  // studies and below go by Study Root, where a UID list at the level is enough for relational
  // peers. A patient goes by Patient Root with its ID.
  identifier.putAndInsertString(unique_key(level), job.uids.c_str());
  const bool patient_root = level == index::Level::kPatient;
  dicom::RetrieveCounts counts;
  std::string why;
  const bool ok = job.method == "get" ? dicom::get(node, options_.scu, patient_root, identifier, {},
                                                   archive_, counts, why)
                                      : dicom::move(node, options_.scu, patient_root, identifier,
                                                    archive_.own_aet(), counts, why);
  archive_.index().update_job_progress(job.id, counts.completed + counts.failed + counts.warning,
                                       counts.completed + counts.warning, counts.failed);
  if (!ok) return why.empty() ? "retrieve failed" : why;
  const bool some_failed = counts.failed > 0;
  archive_.index().finish_job(
      job.id, some_failed ? "failed" : "done",
      some_failed ? std::to_string(counts.failed) + " instance(s) failed" : "");
  log::info("job ", job.id, " finished: ", counts.completed, " retrieved, ", counts.failed,
            " failed");
  return {};
}

}  // namespace ossa::jobs
