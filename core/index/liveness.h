#pragma once
// Is the index answering right now? The answer of the check behind GET /testdbalive and so behind
// the watchdog (Index::liveness_check): it must fail, never hang and never pass by luck, when the
// index cannot serve a read.

#include <string>

namespace ossa::index {

struct Liveness {
  bool alive = false;
  std::string reason;  // why not, for the answer and the log; empty when alive
};

}  // namespace ossa::index
