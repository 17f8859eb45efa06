#pragma once
// A sender that hands the archive one instance after another: an association storing a study, an
// import worker. The group commit expects such a sender back soon after answering it, and gathers
// its next instance into the same flush as the others' (ingest_pipeline.h, "Gathering").
#include <chrono>
#include <cstdint>

namespace ossa::archive {

// Owned by the sender (one per association or worker, never shared between threads); only the
// ingest pipeline reads or writes it, under its own lock.
struct IngestStream {
  uint64_t answered_in_batch = 0;  // the group-commit batch that answered its last instance
  std::chrono::steady_clock::time_point answered_at;  // when
};

// Group commit at work: instances made durable, and in how many batches (one flush each).
struct IngestStats {
  uint64_t instances = 0;
  uint64_t batches = 0;
};

}  // namespace ossa::archive
