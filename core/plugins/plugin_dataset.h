#pragma once
// The host-side definitions of the ABI's opaque builder and dataset handles.

#include <string>

class DcmDataset;

// An incoming instance during on_received.
struct ossa_dataset {
  DcmDataset* dataset;
  bool modified;
};

// A method's JSON result.
struct ossa_result {
  std::string json;
};
