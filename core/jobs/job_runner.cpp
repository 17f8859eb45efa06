#include "jobs/job_runner.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "jobs/send_pacer.h"
#include "util/log.h"
#include "util/thread_name.h"

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

// Jobs are background work: a forward or a retrieve may take a little longer, but it must not
// take CPU from the associations a modality is waiting on. Linux schedules threads individually:
// SCHED_IDLE gives this thread the CPU only when no normal thread wants it (a minimal share
// otherwise, so jobs still progress under sustained load), and leaves ingest and queries alone.
void lower_this_threads_priority() {
  sched_param param{};
  if (::sched_setscheduler(0, SCHED_IDLE, &param) != 0) {  // 0: the calling thread
    const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
    if (::setpriority(PRIO_PROCESS, tid, 19) != 0)
      log::debug("jobs: cannot lower the priority of a worker thread");
  }
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
  util::name_this_thread("ossa-job");
  lower_this_threads_priority();
  while (!stopping_) {
    std::vector<index::Job> batch;
    try {
      batch = archive_.index().claim_jobs(unix_now(), kMaxJobsPerAssociation);
    } catch (const std::exception& e) {
      log::error("jobs: cannot read the job table: ", e.what());
    }
    if (batch.empty()) {
      for (int i = 0; i < 10 && !stopping_; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    try {
      run(batch);
    } catch (const std::exception& e) {
      for (const auto& job : batch) {
        log::error("job ", job.id, " failed: ", e.what());
        archive_.index().finish_job(job.id, "failed", e.what());
      }
    }
  }
}

void JobRunner::run(std::vector<index::Job>& batch) {
  // Every job of a batch has the same kind and node (claim_jobs batches sends to one node only).
  const index::Job& lead = batch.front();
  const std::optional<archive::Node> node = archive_.node_by_name(lead.node);
  const bool allowed = node && (lead.kind == "send" ? node->send : node->retrieve);
  if (!allowed) {
    const std::string why = node ? "node " + lead.node + " does not allow " + lead.kind +
                                       " (nodes: " + lead.kind + ": true)"
                                 : "no declared node named " + lead.node;
    for (const auto& job : batch) {
      log::warning("job ", job.id, ": ", why);
      archive_.index().finish_job(job.id, "failed", why);
    }
    return;
  }
  std::vector<index::Job> runnable;
  for (auto& job : batch) {
    index::Level level;
    if (!parse_level(job.level, level) || job.uids.empty()) {
      archive_.index().finish_job(job.id, "failed", "bad level or keys");
      continue;
    }
    log::info("job ", job.id, ": ", job.kind, " ", job.level, " ", job.uids, " ",
              job.kind == "send" ? "to " : "from ", node->name, " (attempt ", job.attempts, ")");
    runnable.push_back(std::move(job));
  }
  if (runnable.empty()) return;
  if (runnable.front().kind == "send") {
    run_send(runnable, *node);
    return;
  }
  for (auto& job : runnable) {
    const std::string error = run_retrieve(job, *node);
    if (!error.empty()) retry_or_fail(job, error);
  }
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

void JobRunner::run_send(std::vector<index::Job>& jobs, const archive::Node& node) {
  // The instances of every job, in job order, each remembering its job. A resumed job skips what
  // it already did (stable order from the index).
  std::vector<index::InstanceLocation> to_send;
  std::vector<size_t> owner;
  for (size_t j = 0; j < jobs.size(); ++j) {
    index::Job& job = jobs[j];
    const std::vector<index::InstanceLocation> all =
        archive_.instances_for(job_query(job.level, job.uids));
    job.total = static_cast<int64_t>(all.size());
    const size_t skip =
        std::min<size_t>(all.size(), static_cast<size_t>(job.completed + job.failed));
    for (size_t i = skip; i < all.size(); ++i) {
      to_send.push_back(all[i]);
      owner.push_back(j);
    }
  }
  archive_.index().record_job_progress(jobs);
  std::vector<bool> cancelled(jobs.size(), false);
  // A lone job records its progress after every instance, so a crash re-sends at most the one in
  // flight. A batch (routing's one-instance jobs) records it, like every job reads cancellation,
  // at most every half second: a crash then re-sends at most the batch, with the same SOP
  // Instance UIDs, which DICOM allows.
  auto last_check = std::chrono::steady_clock::now();
  const auto check_in = [&](bool record_now) {
    const auto now = std::chrono::steady_clock::now();
    const bool due = now - last_check >= std::chrono::milliseconds(500);
    if (record_now || due) archive_.index().record_job_progress(jobs);
    if (!due) return;
    last_check = now;
    for (size_t j = 0; j < jobs.size(); ++j) {
      const auto row = archive_.index().job(jobs[j].id);
      cancelled[j] = row && row->state == "cancelled";
    }
  };
  const auto all_cancelled = [&] {
    return std::all_of(cancelled.begin(), cancelled.end(), [](bool c) { return c; });
  };
  std::string why;
  SendPacer pacer([this] { return archive_.ingest_stats().batches; },
                  options_.send_share_while_ingesting);
  auto sending_since = std::chrono::steady_clock::now();
  const bool ok =
      to_send.empty() ||
      dicom::send(
          node, options_.scu, archive_, to_send,
          [&](size_t i, const dicom::SubOperationResult& r) {
            const auto pause = pacer.pause_after(std::chrono::steady_clock::now() - sending_since);
            if (pause > std::chrono::steady_clock::duration::zero() && !stopping_)
              std::this_thread::sleep_for(pause);
            sending_since = std::chrono::steady_clock::now();
            index::Job& job = jobs[owner[i]];
            if (r.status == 0 || r.is_warning()) {
              ++job.completed;
            } else {
              ++job.failed;
              log::warning("job ", job.id, ": ", to_send[i].sop_instance_uid, " not sent (0x",
                           std::hex, r.status, std::dec, ") ", r.error);
            }
            check_in(jobs.size() == 1);
            return !all_cancelled() && !stopping_;
          },
          why);
  // Progress of the unfinished and the end of the finished, each in one transaction: routing's
  // batches of one-instance jobs would otherwise cost a write per job.
  std::vector<index::Job> unfinished, finished;
  for (size_t j = 0; j < jobs.size(); ++j) {
    index::Job& job = jobs[j];
    if (cancelled[j]) {
      log::info("job ", job.id, " cancelled after ", job.completed + job.failed, " of ", job.total);
      unfinished.push_back(job);
      continue;
    }
    if (job.completed + job.failed < job.total) {
      unfinished.push_back(job);
      continue;
    }
    job.state = job.failed ? "failed" : "done";
    job.error = job.failed ? std::to_string(job.failed) + " instance(s) not accepted" : "";
    finished.push_back(job);
    log::info("job ", job.id, " finished: ", job.completed, " sent, ", job.failed, " failed");
  }
  archive_.index().record_job_progress(unfinished);
  archive_.index().finish_jobs(finished);
  for (size_t j = 0; j < jobs.size(); ++j) {
    const index::Job& job = jobs[j];
    if (cancelled[j] || job.completed + job.failed >= job.total) continue;
    if (stopping_) continue;  // requeued at the next start
    retry_or_fail(job, ok ? "interrupted" : (why.empty() ? "send failed" : why));
  }
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
