#include "dicom/tag_keys.h"

#include <cstdio>

namespace ossa::dicom {

bool parse_tag_key(const std::string& key, DcmTag& tag) {
  unsigned group = 0, element = 0;
  char end = 0;
  if (std::sscanf(key.c_str(), "(%4x,%4x%c", &group, &element, &end) == 3 && end == ')' &&
      key.size() == 11) {
    tag = DcmTag(static_cast<Uint16>(group), static_cast<Uint16>(element));
    return true;
  }
  if (std::sscanf(key.c_str(), "%4x,%4x", &group, &element) == 2 && key.size() == 9) {
    tag = DcmTag(static_cast<Uint16>(group), static_cast<Uint16>(element));
    return true;
  }
  return DcmTag::findTagFromName(key.c_str(), tag).good();
}

}  // namespace ossa::dicom
