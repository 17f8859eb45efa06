// Entry point of the `ossa` executable: dispatches to the sub-commands.

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "app/commands.h"

namespace {

void print_usage() {
  std::fputs(
      "usage: ossa <command> [options]\n"
      "\n"
      "  serve [--config FILE]            run the PACS server (default config: config/ossa.yaml)\n"
      "  import [--config FILE] PATH...   import DICOM files and folders (recursively)\n"
      "  check-config FILE                validate a configuration file\n"
      "  echo [--config FILE] NODE        C-ECHO a declared node\n"
      "  query [--config FILE] NODE [--level L] [--patient-root] -k KEY=VALUE...\n"
      "                                   C-FIND on a declared node, answers as JSON lines\n"
      "  send [--config FILE] NODE [--level L] [--wait] KEY...\n"
      "                                   queue a send job (run by the server)\n"
      "  retrieve [--config FILE] NODE [--level L] [--get] [--wait] KEY...\n"
      "                                   queue a retrieve job (C-MOVE to Ossa, or C-GET)\n"
      "  jobs [--config FILE] [ID [--wait] | --cancel ID]   list, watch or cancel jobs\n"
      "  delete [--config FILE] LEVEL KEY...  delete patients (by ID), studies, series, instances\n"
      "  nodes [--config FILE] [add NAME AET HOST PORT [--move-destination] [--query] "
      "[--retrieve]\n"
      "        [--send] | remove NAME]     list, add or remove remote nodes at run time\n"
      "  watchdog [--config FILE]         run `serve` and restart it when it stops answering\n"
      "  plugin-info FILE.so              a plugin's info, and whether this host would load it\n"
      "  version                          print the versions of Ossa, DCMTK and SQLite\n",
      stderr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage();
    return 2;
  }
  const std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (command == "serve") return ossa::app::run_serve(args);
    if (command == "import") return ossa::app::run_import(args);
    if (command == "check-config") return ossa::app::run_check_config(args);
    if (command == "echo") return ossa::app::run_echo(args);
    if (command == "query") return ossa::app::run_query(args);
    if (command == "send") return ossa::app::run_send(args);
    if (command == "retrieve") return ossa::app::run_retrieve(args);
    if (command == "jobs") return ossa::app::run_jobs(args);
    if (command == "delete") return ossa::app::run_delete(args);
    if (command == "nodes") return ossa::app::run_nodes(args);
    if (command == "watchdog") return ossa::app::run_watchdog(args);
    if (command == "version" || command == "--version") return ossa::app::run_version();
    if (command == "plugin-info") return ossa::app::run_plugin_info(args);
    if (command == "help" || command == "--help" || command == "-h") {
      print_usage();
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ossa %s: %s\n", command.c_str(), e.what());
    return 1;
  }
  std::fprintf(stderr, "ossa: unknown command '%s'\n", command.c_str());
  print_usage();
  return 2;
}
