#pragma once
// The `ossa` command line: one function per sub-command, each returning the process exit code.
// Exit codes: 0 success, 1 the work failed (or partly: some imports rejected), 2 usage or config.

#include <string>
#include <vector>

namespace ossa::app {

int run_serve(const std::vector<std::string>& args);
int run_import(const std::vector<std::string>& args);
int run_check_config(const std::vector<std::string>& args);
int run_version();
int run_plugin_info(const std::vector<std::string>& args);

// Against remote nodes (declared in the configuration): remote_commands.cpp.
int run_echo(const std::vector<std::string>& args);
int run_query(const std::vector<std::string>& args);

// Durable jobs and deletion: job_commands.cpp.
int run_send(const std::vector<std::string>& args);
int run_retrieve(const std::vector<std::string>& args);
int run_jobs(const std::vector<std::string>& args);
int run_delete(const std::vector<std::string>& args);
int run_nodes(const std::vector<std::string>& args);     // node_commands.cpp
int run_watchdog(const std::vector<std::string>& args);  // watchdog_command.cpp

// Shared by the commands that take --config: the file given, else $OSSA_CONFIG, else
// ./config/ossa.yaml. Returns false (after printing why) on a usage error.
bool take_config_option(std::vector<std::string>& args, std::string& config_path);

}  // namespace ossa::app
