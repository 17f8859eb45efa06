#pragma once
// The host-side definitions of the ABI's opaque builder and dataset handles.

#include <string>

class DcmDataset;
namespace ossa::plugins {
class OriginalAttributes;
}

// An incoming instance during on_received.
struct ossa_dataset {
  DcmDataset* dataset;
  bool modified;
  // Where dataset_set / dataset_remove record the prior values (Original Attributes Sequence).
  ossa::plugins::OriginalAttributes* originals = nullptr;
};

// A method's JSON result.
struct ossa_result {
  std::string json;
};
