#include "charset.h"

#include <iconv.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

namespace ossa::hl7 {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

struct Mapping {
  const char* hl7;
  const char* iconv;
  const char* dicom;
};

// HL7 table 0211; DICOM terms as dcm4chee maps them (docs: dicom-hl7-checklist 7.1).
constexpr std::array<Mapping, 19> kMappings{{
    {"ASCII", "ASCII", ""},
    {"ISO IR6", "ASCII", ""},
    {"8859/1", "ISO-8859-1", "ISO_IR 100"},
    {"8859/2", "ISO-8859-2", "ISO_IR 101"},
    {"8859/3", "ISO-8859-3", "ISO_IR 109"},
    {"8859/4", "ISO-8859-4", "ISO_IR 110"},
    {"8859/5", "ISO-8859-5", "ISO_IR 144"},
    {"8859/6", "ISO-8859-6", "ISO_IR 127"},
    {"8859/7", "ISO-8859-7", "ISO_IR 126"},
    {"8859/8", "ISO-8859-8", "ISO_IR 138"},
    {"8859/9", "ISO-8859-9", "ISO_IR 148"},
    {"8859/15", "ISO-8859-15", "ISO_IR 203"},
    {"UNICODE UTF-8", "UTF-8", "ISO_IR 192"},
    {"ISO IR14", "JIS_C6220-1969-RO", "ISO_IR 13"},
    {"ISO IR87", "ISO-2022-JP", "ISO 2022 IR 87"},
    {"ISO IR159", "ISO-2022-JP-2", "ISO 2022 IR 159"},
    {"KS X 1001", "EUC-KR", "ISO 2022 IR 149"},
    {"GB 18030-2000", "GB18030", "GB18030"},
    {"BIG-5", "BIG5", ""},
}};

const Mapping* find(std::string_view msh18) {
  const std::string_view v = trim(msh18);
  if (v.empty()) return &kMappings[0];
  for (const auto& m : kMappings) {
    if (v == m.hl7) return &m;
  }
  return nullptr;
}

class Iconv {
 public:
  Iconv(const std::string& to, const std::string& from)
      : cd_(iconv_open(to.c_str(), from.c_str())) {}
  ~Iconv() {
    if (ok()) iconv_close(cd_);
  }
  Iconv(const Iconv&) = delete;
  Iconv& operator=(const Iconv&) = delete;
  [[nodiscard]] bool ok() const { return cd_ != reinterpret_cast<iconv_t>(-1); }
  [[nodiscard]] iconv_t get() const { return cd_; }

 private:
  iconv_t cd_;
};

}  // namespace

std::optional<std::string> iconv_charset(std::string_view msh18) {
  if (trim(msh18) == "CNS 11643-1992") return std::string("EUC-TW");
  const Mapping* m = find(msh18);
  if (m == nullptr) return std::nullopt;
  return std::string(m->iconv);
}

std::string dicom_charset(std::string_view msh18) {
  const Mapping* m = find(msh18);
  return m != nullptr ? m->dicom : "";
}

bool convert(std::string_view in, const std::string& from, const std::string& to, std::string& out,
             std::string& error, bool lossy) {
  out.clear();
  if (from == to) {
    out.assign(in);
    return true;
  }
  Iconv cd(to, from);
  if (!cd.ok()) {
    error = "no conversion from " + from + " to " + to + " in iconv";
    return false;
  }
  std::string buffer(in.size() * 4 + 16, '\0');
  char* src = const_cast<char*>(in.data());
  size_t src_left = in.size();
  size_t done = 0;
  while (true) {
    char* dst = buffer.data() + done;
    size_t dst_left = buffer.size() - done;
    const size_t r = iconv(cd.get(), src_left ? &src : nullptr, &src_left, &dst, &dst_left);
    done = buffer.size() - dst_left;
    if (r != static_cast<size_t>(-1)) {
      if (src_left == 0) {
        // Flush the shift state (ISO 2022 encodings end in their initial state).
        char* flush_dst = buffer.data() + done;
        size_t flush_left = buffer.size() - done;
        if (iconv(cd.get(), nullptr, nullptr, &flush_dst, &flush_left) != static_cast<size_t>(-1))
          done = buffer.size() - flush_left;
        break;
      }
      continue;
    }
    if (errno == E2BIG) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (lossy && (errno == EILSEQ || errno == EINVAL) && src_left > 0) {
      // Skip the byte that cannot be converted and write a question mark instead.
      ++src;
      --src_left;
      if (buffer.size() - done < 8) buffer.resize(buffer.size() * 2);
      buffer[done++] = '?';
      continue;
    }
    const size_t offset = in.size() - src_left;
    error = (errno == EINVAL ? "incomplete character at byte "
                             : "invalid byte for " + from + " at byte ") +
            std::to_string(offset);
    return false;
  }
  buffer.resize(done);
  out = std::move(buffer);
  return true;
}

}  // namespace ossa::hl7
