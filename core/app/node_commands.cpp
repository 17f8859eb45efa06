// `ossa nodes`: list the declared remote nodes, and add or remove nodes at run time. Run-time
// nodes are kept in the index, so the running server uses them at once and after restarts.

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "app/commands.h"
#include "app/runtime.h"

namespace ossa::app {
namespace {

constexpr const char* kUsage =
    "usage: ossa nodes [--config FILE]                     list the nodes\n"
    "       ossa nodes [--config FILE] add NAME AET HOST PORT [--move-destination] [--query]\n"
    "                                  [--retrieve] [--send]\n"
    "       ossa nodes [--config FILE] remove NAME\n";

bool take_flag(std::vector<std::string>& args, const std::string& flag) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag) {
      args.erase(args.begin() + static_cast<long>(i));
      return true;
    }
  }
  return false;
}

}  // namespace

int run_nodes(const std::vector<std::string>& arguments) {
  std::vector<std::string> args = arguments;
  std::string config_path;
  if (!take_config_option(args, config_path)) return 2;
  archive::Node node;
  node.move_destination = take_flag(args, "--move-destination");
  node.query = take_flag(args, "--query");
  node.retrieve = take_flag(args, "--retrieve");
  node.send = take_flag(args, "--send");
  config::Config cfg;
  if (!load_config_or_report(config_path, cfg) || !prepare_process(cfg)) return 2;
  archive::ArchiveOptions options = archive_options(cfg);
  options.prepare_temp_files = false;
  archive::Archive archive(options);

  if (args.empty()) {
    for (const auto& n : archive.nodes()) {
      std::printf("%-16s %-16s %s:%u%s%s%s%s\n", n.name.c_str(), n.aet.c_str(), n.host.c_str(),
                  n.port, n.move_destination ? " move_destination" : "", n.query ? " query" : "",
                  n.retrieve ? " retrieve" : "", n.send ? " send" : "");
    }
    return 0;
  }
  if (args[0] == "add" && args.size() == 5) {
    node.name = args[1];
    node.aet = args[2];
    node.host = args[3];
    const long port = std::strtol(args[4].c_str(), nullptr, 10);
    if (port < 1 || port > 65535) {
      std::fprintf(stderr, "ossa nodes add: port '%s' is not 1-65535\n", args[4].c_str());
      return 2;
    }
    node.port = static_cast<uint16_t>(port);
    try {
      archive.add_node(node);
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "ossa nodes add: %s\n", e.what());
      return 1;
    }
    std::printf("node %s added\n", node.name.c_str());
    return 0;
  }
  if (args[0] == "remove" && args.size() == 2) {
    if (!archive.remove_node(args[1])) {
      std::fprintf(stderr,
                   "ossa nodes remove: no run-time node named %s (configured nodes are "
                   "changed in the configuration file)\n",
                   args[1].c_str());
      return 1;
    }
    std::printf("node %s removed\n", args[1].c_str());
    return 0;
  }
  std::fputs(kUsage, stderr);
  return 2;
}

}  // namespace ossa::app
