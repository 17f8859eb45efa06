#pragma once
// The plugin's configuration (the `config:` of its `plugins:` entry, as JSON). See README.md.

#include <string>

#include "listener.h"
#include "processor.h"

namespace ossa::hl7 {

struct Hl7Config {
  ListenerOptions listener;
  ProcessorOptions processor;
  std::string state_dir;       // required: where the journal lives
  int journal_keep_days = 90;  // completed messages older than this are pruned (0 = never)
};

// Parses and validates; false with a message naming the bad key.
bool parse_config(const std::string& json, Hl7Config& config, std::string& error);

}  // namespace ossa::hl7
