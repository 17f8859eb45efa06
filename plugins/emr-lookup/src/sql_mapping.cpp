#include "sql_mapping.h"

#include <algorithm>
#include <cctype>

namespace ossa::emr {
namespace {

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool digits(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(),
                                      [](unsigned char c) { return std::isdigit(c) != 0; });
}

std::string dicom_date(const std::string& value) {
  const std::string v = trimmed(value);
  if (v.size() == 8 && digits(v)) return v;
  if (v.size() == 10 && v[4] == '-' && v[7] == '-') {
    const std::string da = v.substr(0, 4) + v.substr(5, 2) + v.substr(8, 2);
    if (digits(da)) return da;
  }
  return "";
}

std::string dicom_sex(const std::string& value) {
  const std::string v = lower(trimmed(value));
  if (v == "m" || v == "male") return "M";
  if (v == "f" || v == "female") return "F";
  if (v == "o" || v == "other") return "O";
  return "";
}

void add_id(std::vector<std::string>& ids, const std::string& id) {
  const std::string v = trimmed(id);
  if (!v.empty() && std::find(ids.begin(), ids.end(), v) == ids.end()) ids.push_back(v);
}

}  // namespace

std::vector<std::string> split_ids(const std::string& text) {
  std::vector<std::string> ids;
  const std::string t = trimmed(text);
  if (t.size() >= 2 && t.front() == '{' && t.back() == '}') {
    // PostgreSQL array output: elements separated by ',', quoted with '"' when they hold
    // special characters, '\' escaping inside quotes; an unquoted NULL is a null element.
    std::string current;
    bool quoted = false, was_quoted = false;
    for (size_t i = 1; i + 1 < t.size(); ++i) {
      const char c = t[i];
      if (quoted) {
        if (c == '\\' && i + 2 < t.size()) {
          current += t[++i];
        } else if (c == '"') {
          quoted = false;
        } else {
          current += c;
        }
      } else if (c == '"') {
        quoted = was_quoted = true;
      } else if (c == ',') {
        if (was_quoted || current != "NULL") add_id(ids, current);
        current.clear();
        was_quoted = false;
      } else {
        current += c;
      }
    }
    if (was_quoted || current != "NULL") add_id(ids, current);
    return ids;
  }
  size_t start = 0;
  while (start <= t.size()) {
    const size_t end = t.find('\\', start);
    add_id(ids, t.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return ids;
}

Demographics map_sql_row(const SqlRow& row) {
  Demographics d;
  if (row.name) d.patient_name = trimmed(*row.name);
  if (row.birth_date) d.birth_date = dicom_date(*row.birth_date);
  if (row.sex) d.sex = dicom_sex(*row.sex);
  if (row.other_ids) {
    for (const std::string& id : split_ids(*row.other_ids)) {
      if (id.find('\\') == std::string::npos) d.other_ids.push_back(id);
    }
  }
  return d;
}

}  // namespace ossa::emr
