// What index.h defines that belongs to no backend.

#include "index/index.h"

namespace ossa::index {

const std::string& InstanceRecord::get(Level level, uint32_t t) const {
  static const std::string kEmpty;
  const auto& map = attributes[static_cast<int>(level)];
  const auto it = map.find(t);
  return it == map.end() ? kEmpty : it->second;
}

// Out of line: the interface's vtable is emitted here, once.
Index::~Index() = default;

}  // namespace ossa::index
