#pragma once
// Names the calling thread, so that `top -H`, `ps -L`, perf and gdb show what each of the server's
// threads does (ingest writer, association, job worker, ...) instead of "ossa" for all of them.

#include <pthread.h>

#include <string>

namespace ossa::util {

// Linux keeps at most 15 characters; a longer name is cut, never refused.
inline void name_this_thread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace ossa::util
