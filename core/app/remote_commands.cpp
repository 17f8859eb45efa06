// `ossa echo` and `ossa query`: C-ECHO and C-FIND on declared remote nodes.

#include <cstdio>

#include "app/commands.h"

namespace ossa::app {

int run_echo(const std::vector<std::string>&) {
  std::fputs("ossa echo: not available in this build\n", stderr);
  return 2;
}

int run_query(const std::vector<std::string>&) {
  std::fputs("ossa query: not available in this build\n", stderr);
  return 2;
}

}  // namespace ossa::app
