// OsiriX predicates -> prepared SQL over the index (see index/predicate.h), and
// SqliteIndex::find_by_predicate.
//
// Only the SQL *shape* comes from the predicate (which whitelisted key, which operator); every
// value it carries is bound. Key expressions are fixed text in the table below.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "index/sqlite_index.h"
#include "index/sqlite_leases.h"
#include "index/matching.h"
#include "index/predicate.h"
#include "index/sqlite.h"
#include "util/utf8.h"

namespace ossa::index::predicate {
namespace {

enum class Type { kText, kNumber, kDate };

// One OsiriX attribute of an entity and the SQL that reads it. Aliases: p patients, st studies,
// se series, i instances (those of the entity and every level above it are in scope).
struct Key {
  const char* name;
  Type type;
  const char* sql;
};

#define OSSA_JSON(alias, tag) "json_extract(" alias ".attrs, '$.\"" tag "\"')"
#define OSSA_ADDED(inner) \
  "replace(replace(replace(replace((" inner "), '-', ''), ':', ''), 'T', ''), 'Z', '')"

const Key kStudyKeys[] = {
    {"patientID", Type::kText, "p.patient_id"},
    {"patientUID", Type::kText, "p.patient_id"},
    {"name", Type::kText, OSSA_JSON("p", "00100010")},
    {"dateOfBirth", Type::kDate, "(p.birth_date || '000000')"},
    {"patientSex", Type::kText, "p.sex"},
    {"studyInstanceUID", Type::kText, "st.study_instance_uid"},
    {"accessionNumber", Type::kText, "st.accession_number"},
    {"id", Type::kText, "st.study_id"},
    {"date", Type::kDate,
     "(st.study_date || substr(coalesce(st.study_time, '') || '000000', 1, 6))"},
    {"studyName", Type::kText, OSSA_JSON("st", "00081030")},
    {"comment", Type::kText, OSSA_JSON("st", "00324000")},
    {"referringPhysician", Type::kText, OSSA_JSON("st", "00080090")},
    {"performingPhysician", Type::kText,
     "(SELECT " OSSA_JSON("sx", "00081050") " FROM series sx WHERE sx.study_fk = st.id "
                                            "ORDER BY sx.id LIMIT 1)"},
    {"institutionName", Type::kText,
     "(SELECT " OSSA_JSON("sx", "00080080") " FROM series sx WHERE sx.study_fk = st.id "
                                            "ORDER BY sx.id LIMIT 1)"},
    {"modality", Type::kText,
     "(SELECT group_concat(m.modality, '\\') FROM (SELECT DISTINCT sx.modality FROM series sx "
     "WHERE sx.study_fk = st.id AND sx.modality <> '' ORDER BY sx.modality) m)"},
    {"numberOfImages", Type::kNumber, "st.num_instances"},
    {"dateAdded", Type::kDate,
     OSSA_ADDED("SELECT min(ix.received_at) FROM series sx JOIN instances ix ON ix.series_fk = "
                "sx.id WHERE sx.study_fk = st.id")},
};

const Key kSeriesKeys[] = {
    {"seriesInstanceUID", Type::kText, "se.series_instance_uid"},
    {"seriesDICOMUID", Type::kText, "se.series_instance_uid"},
    {"id", Type::kNumber, "se.series_number"},
    {"name", Type::kText, OSSA_JSON("se", "0008103E")},
    {"seriesDescription", Type::kText, OSSA_JSON("se", "0008103E")},
    {"modality", Type::kText, "se.modality"},
    {"date", Type::kDate,
     "(se.series_date || substr(replace(coalesce(" OSSA_JSON("se",
                                                             "00080031") ", ''), ':', '') "
                                                                         "|| '000000', 1, 6))"},
    {"numberOfImages", Type::kNumber, "se.num_instances"},
    {"seriesSOPClassUID", Type::kText,
     "(SELECT ix.sop_class_uid FROM instances ix WHERE ix.series_fk = se.id ORDER BY ix.id "
     "LIMIT 1)"},
    {"comment", Type::kText, OSSA_JSON("se", "00204000")},
    {"dateAdded", Type::kDate,
     OSSA_ADDED("SELECT min(ix.received_at) FROM instances ix WHERE ix.series_fk = se.id")},
};

const Key kImageKeys[] = {
    {"instanceNumber", Type::kNumber, "i.instance_number"},
    {"sopInstanceUID", Type::kText, "i.sop_instance_uid"},
    {"sopClassUID", Type::kText, "i.sop_class_uid"},
    {"sliceLocation", Type::kNumber, OSSA_JSON("i", "00201041")},
    {"storedModality", Type::kText, "se.modality"},
    {"modality", Type::kText, "se.modality"},
    {"storedNumberOfFrames", Type::kNumber, OSSA_JSON("i", "00280008")},
    {"numberOfFrames", Type::kNumber, OSSA_JSON("i", "00280008")},
    {"storedHeight", Type::kNumber, OSSA_JSON("i", "00280010")},
    {"storedWidth", Type::kNumber, OSSA_JSON("i", "00280011")},
    {"comment", Type::kText, OSSA_JSON("i", "00204000")},
    {"date", Type::kDate,
     "(" OSSA_JSON("i", "00080023") " || substr(replace(coalesce(" OSSA_JSON(
         "i", "00080033") ", ''), ':', '') || '000000', 1, 6))"},
    {"dateAdded", Type::kDate, OSSA_ADDED("i.received_at")},
};

#undef OSSA_JSON
#undef OSSA_ADDED

template <size_t N>
std::vector<const Key*> as_list(const Key (&keys)[N]) {
  std::vector<const Key*> out;
  for (const auto& k : keys) out.push_back(&k);
  return out;
}

std::vector<const Key*> keys_of(Table table) {
  switch (table) {
    case Table::kStudy:
      return as_list(kStudyKeys);
    case Table::kSeries:
      return as_list(kSeriesKeys);
    case Table::kImage:
      return as_list(kImageKeys);
  }
  return {};
}

// Operator codes of the SQL function ossa_nsp(stored, op, flags, operand).
enum NspOp {
  kNspEqual = 0,
  kNspNotEqual,
  kNspLess,
  kNspLessEqual,
  kNspGreater,
  kNspGreaterEqual,
  kNspLike,
  kNspContains,
  kNspBeginsWith,
  kNspEndsWith,
};
constexpr int kFlagCase = 1;
constexpr int kFlagDiacritic = 2;

const char* sql_operator(Op op) {
  switch (op) {
    case Op::kEqual:
      return "=";
    case Op::kNotEqual:
      return "<>";
    case Op::kLess:
      return "<";
    case Op::kLessEqual:
      return "<=";
    case Op::kGreater:
      return ">";
    case Op::kGreaterEqual:
      return ">=";
    default:
      return nullptr;
  }
}

int nsp_code(Op op) {
  switch (op) {
    case Op::kEqual:
    case Op::kIn:
      return kNspEqual;
    case Op::kNotEqual:
      return kNspNotEqual;
    case Op::kLess:
      return kNspLess;
    case Op::kLessEqual:
      return kNspLessEqual;
    case Op::kGreater:
      return kNspGreater;
    case Op::kGreaterEqual:
      return kNspGreaterEqual;
    case Op::kLike:
      return kNspLike;
    case Op::kContains:
      return kNspContains;
    case Op::kBeginsWith:
      return kNspBeginsWith;
    case Op::kEndsWith:
      return kNspEndsWith;
  }
  return kNspEqual;
}

const char* op_name(Op op) {
  switch (op) {
    case Op::kEqual:
      return "==";
    case Op::kNotEqual:
      return "!=";
    case Op::kLess:
      return "<";
    case Op::kLessEqual:
      return "<=";
    case Op::kGreater:
      return ">";
    case Op::kGreaterEqual:
      return ">=";
    case Op::kLike:
      return "LIKE";
    case Op::kContains:
      return "CONTAINS";
    case Op::kBeginsWith:
      return "BEGINSWITH";
    case Op::kEndsWith:
      return "ENDSWITH";
    case Op::kIn:
      return "IN";
  }
  return "?";
}

std::string number_text(double v) {
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", v);
  return text;
}

// Where a key path leads from the table being searched.
struct ResolvedKey {
  const Key* key = nullptr;
  // A to-many hop (Study -> series / images, Series -> images): the comparison holds for ANY of the
  // related entities, so it is wrapped in EXISTS over this join.
  std::string exists_prefix;  // "EXISTS (SELECT 1 FROM ... WHERE ... AND "
};

std::string describe_keys(Table table) {
  std::string list;
  for (const Key* k : keys_of(table)) list += (list.empty() ? "" : ", ") + std::string(k->name);
  return list;
}

ResolvedKey resolve(const std::string& path, Table root, size_t position) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? dot : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  Table entity = root;
  ResolvedKey out;
  const auto error = [&](const std::string& why) {
    return PredicateError("position " + std::to_string(position) + ": " + why);
  };
  for (size_t n = 0; n + 1 < parts.size(); ++n) {
    const std::string& relation = parts[n];
    if (relation == "study" && (entity == Table::kSeries || entity == Table::kImage)) {
      entity = Table::kStudy;
    } else if (relation == "series" && entity == Table::kImage) {
      entity = Table::kSeries;
    } else if (relation == "series" && entity == Table::kStudy && out.exists_prefix.empty()) {
      out.exists_prefix = "EXISTS (SELECT 1 FROM series se WHERE se.study_fk = st.id AND ";
      entity = Table::kSeries;
    } else if ((relation == "images" || relation == "image") && entity == Table::kSeries &&
               out.exists_prefix.empty()) {
      out.exists_prefix = "EXISTS (SELECT 1 FROM instances i WHERE i.series_fk = se.id AND ";
      entity = Table::kImage;
    } else if ((relation == "images" || relation == "image") && entity == Table::kStudy &&
               out.exists_prefix.empty()) {
      out.exists_prefix =
          "EXISTS (SELECT 1 FROM series se JOIN instances i ON i.series_fk = se.id WHERE "
          "se.study_fk = st.id AND ";
      entity = Table::kImage;
    } else {
      throw error(
          "'" + path + "': " + to_string(entity) + " has no relation '" + relation +
          "' (Series and Image have study, Image has series, Study has series and images, " +
          "Series has images)");
    }
  }
  const std::string& name = parts.back();
  for (const Key* k : keys_of(entity)) {
    if (name == k->name) {
      out.key = k;
      return out;
    }
  }
  throw error("unknown key '" + path + "' for " + to_string(entity) +
              " (known: " + describe_keys(entity) + ")");
}

class Translator {
 public:
  explicit Translator(Table table) : table_(table) {}

  std::string expr(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kTrue:
        return "1";
      case Expr::Kind::kFalse:
        return "0";
      case Expr::Kind::kNot:
        if (e.children.size() != 1) throw PredicateError("NOT needs one operand");
        // NULL (a missing value) counts as false before it is negated, as NSPredicate treats nil.
        return "(NOT coalesce(" + expr(e.children[0]) + ", 0))";
      case Expr::Kind::kAnd:
      case Expr::Kind::kOr: {
        if (e.children.empty()) throw PredicateError("AND/OR needs operands");
        std::string out = "(";
        for (size_t n = 0; n < e.children.size(); ++n) {
          if (n) out += e.kind == Expr::Kind::kAnd ? " AND " : " OR ";
          out += "coalesce(" + expr(e.children[n]) + ", 0)";
        }
        return out + ")";
      }
      case Expr::Kind::kCompare:
        return compare(e);
    }
    return "0";
  }

  std::vector<SqlParam> params;

 private:
  std::string bind_text(const std::string& text) {
    params.push_back({false, text, 0});
    return "?";
  }
  std::string bind_int(int64_t v) {
    params.push_back({true, "", v});
    return "?";
  }

  // ossa_nsp(column, op, flags, value). The parameters are pushed one statement at a time: the
  // operands of '+' are not sequenced, and the placeholders must follow the bound values' order.
  std::string nsp_call(const std::string& column, int op, int flags, const std::string& value) {
    std::string call = "ossa_nsp(" + column + ", ";
    call += bind_int(op);
    call += ", ";
    call += bind_int(flags);
    call += ", ";
    call += bind_text(value);
    return call + ")";
  }

  [[noreturn]] void fail(const Expr& e, const std::string& why) {
    throw PredicateError("position " + std::to_string(e.position) + ": " + why);
  }

  std::string compare(const Expr& e) {
    const ResolvedKey r = resolve(e.key, table_, e.position);
    const std::string inner = typed_compare(e, *r.key);
    if (r.exists_prefix.empty()) return inner;
    return r.exists_prefix + "coalesce(" + inner + ", 0))";
  }

  std::string typed_compare(const Expr& e, const Key& key) {
    if (e.values.empty()) fail(e, "'" + e.key + "' is compared with nothing");
    if (e.op != Op::kIn && e.values.size() != 1) fail(e, "only IN takes a list of values");
    const std::string column = key.sql;
    // nil: "key == nil" / "key != nil".
    if (e.values.size() == 1 && e.values[0].kind == Literal::Kind::kNull) {
      if (e.op == Op::kEqual) return "(nullif(" + column + ", '') IS NULL)";
      if (e.op == Op::kNotEqual) return "(nullif(" + column + ", '') IS NOT NULL)";
      fail(e, "nil can only be compared with == or !=");
    }
    switch (key.type) {
      case Type::kText:
        return text_compare(e, column);
      case Type::kNumber:
        return number_compare(e, column);
      case Type::kDate:
        return date_compare(e, column);
    }
    return "0";
  }

  static std::string literal_text(const Literal& l) {
    if (l.kind == Literal::Kind::kDate) return l.text;
    return l.text;
  }

  std::string text_compare(const Expr& e, const std::string& column) {
    const int flags =
        (e.case_insensitive ? kFlagCase : 0) | (e.diacritic_insensitive ? kFlagDiacritic : 0);
    for (const auto& v : e.values) {
      if (v.kind == Literal::Kind::kNull) fail(e, "nil cannot be in an IN list");
    }
    if (e.op == Op::kIn) {
      std::string out;
      if (flags == 0) {
        out = column + " IN (";
        for (size_t n = 0; n < e.values.size(); ++n)
          out += std::string(n ? "," : "") + bind_text(literal_text(e.values[n]));
        return "(" + out + "))";
      }
      for (size_t n = 0; n < e.values.size(); ++n) {
        out += std::string(n ? " OR " : "") +
               nsp_call(column, kNspEqual, flags, literal_text(e.values[n]));
      }
      return "(" + out + ")";
    }
    const std::string value = literal_text(e.values[0]);
    if (flags == 0) {
      // Plain comparisons stay plain SQL, so SQLite can use the column's index (UIDs, IDs).
      if (e.op == Op::kEqual) return "(" + column + " = " + bind_text(value) + ")";
      if (e.op == Op::kNotEqual)
        return "(coalesce(" + column + ", '') <> " + bind_text(value) + ")";
      if (const char* sql_op = sql_operator(e.op))
        return "(" + column + " " + sql_op + " " + bind_text(value) + ")";
    }
    return nsp_call(column, nsp_code(e.op), flags, value);
  }

  std::string number_value(const Expr& e, const Literal& l) {
    if (l.kind == Literal::Kind::kNumber || l.kind == Literal::Kind::kBool)
      return number_text(l.number);
    if (l.kind == Literal::Kind::kString) {
      char* end = nullptr;
      const double v = std::strtod(l.text.c_str(), &end);
      if (!l.text.empty() && end && *end == '\0' && std::isfinite(v)) return number_text(v);
    }
    fail(e, "'" + e.key + "' is a number; '" + l.text + "' is not");
  }

  std::string number_compare(const Expr& e, const std::string& column) {
    if (e.op == Op::kLike || e.op == Op::kContains || e.op == Op::kBeginsWith ||
        e.op == Op::kEndsWith) {
      return text_compare(e, "CAST(" + column + " AS TEXT)");
    }
    const std::string present = "nullif(" + column + ", '') IS NOT NULL";
    const std::string as_number = "CAST(" + column + " AS REAL)";
    if (e.op == Op::kIn) {
      std::string list;
      for (size_t n = 0; n < e.values.size(); ++n)
        list += std::string(n ? "," : "") + "CAST(" + bind_text(number_value(e, e.values[n])) +
                " AS REAL)";
      return "(" + present + " AND " + as_number + " IN (" + list + "))";
    }
    const std::string value = "CAST(" + bind_text(number_value(e, e.values[0])) + " AS REAL)";
    if (e.op == Op::kNotEqual)
      return "(nullif(" + column + ", '') IS NULL OR " + as_number + " <> " + value + ")";
    return "(" + present + " AND " + as_number + " " + sql_operator(e.op) + " " + value + ")";
  }

  std::string date_value(const Expr& e, const Literal& l) {
    if (l.kind == Literal::Kind::kDate) return l.text;
    if (l.kind == Literal::Kind::kString) {
      if (auto d = canonical_date(l.text)) return *d;
    }
    if (l.kind == Literal::Kind::kNumber) return canonical_date_from_reference_seconds(l.number);
    fail(e, "'" + e.key + "' is a date; '" + l.text +
                "' is not one (use CAST(\"2024-01-31\", \"NSDate\") or \"2024-01-31 10:00:00\")");
  }

  std::string date_compare(const Expr& e, const std::string& column) {
    if (e.op == Op::kLike || e.op == Op::kContains || e.op == Op::kBeginsWith ||
        e.op == Op::kEndsWith) {
      fail(e, std::string("'") + e.key + "' is a date: " + op_name(e.op) +
                  " does not apply (use ==, !=, <, <=, >, >=, IN or BETWEEN)");
    }
    if (e.op == Op::kIn) {
      std::string list;
      for (size_t n = 0; n < e.values.size(); ++n)
        list += std::string(n ? "," : "") + bind_text(date_value(e, e.values[n]));
      return "(" + column + " IN (" + list + "))";
    }
    const std::string value = bind_text(date_value(e, e.values[0]));
    if (e.op == Op::kNotEqual) return "(" + column + " IS NULL OR " + column + " <> " + value + ")";
    return "(length(" + column + ") = 14 AND " + column + " " + sql_operator(e.op) + " " + value +
           ")";
  }

  Table table_;
};

// ---- Text folding for [c] and [d] ----------------------------------------------------------

using util::append_utf8;
using util::next_code_point;

// Base letters of Latin-1 Supplement (U+00C0..U+00FF) and Latin Extended-A (U+0100..U+017F);
// '#' keeps the character (ligatures, signs). Combining marks (U+0300..U+036F) are dropped.
constexpr char kLatin1Base[] = "AAAAAA#CEEEEIIIIDNOOOOO#OUUUUY##aaaaaa#ceeeeiiiidnooooo#ouuuuy#y";
constexpr char kLatinExtABase[] =
    "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIi##JjKkkLlLlLlLlLlNnNnNnnNnOoOoOo##RrRrRrSsSs"
    "SsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";

std::string fold_diacritics(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const char32_t cp = next_code_point(text, i);
    if (cp >= 0x300 && cp <= 0x36F) continue;
    char base = '#';
    if (cp >= 0xC0 && cp <= 0xFF) base = kLatin1Base[cp - 0xC0];
    if (cp >= 0x100 && cp <= 0x17F) base = kLatinExtABase[cp - 0x100];
    if (base != '#')
      out += base;
    else
      append_utf8(out, cp);
  }
  return out;
}

std::string fold(const std::string& text, int flags) {
  std::string out = text;
  if (flags & kFlagDiacritic) out = fold_diacritics(out);
  if (flags & kFlagCase) out = uppercase_utf8(out);
  return out;
}

bool evaluate(int op, const std::string& stored, const std::string& operand) {
  switch (op) {
    case kNspEqual:
      return stored == operand;
    case kNspNotEqual:
      return stored != operand;
    case kNspLess:
      return stored < operand;
    case kNspLessEqual:
      return stored <= operand;
    case kNspGreater:
      return stored > operand;
    case kNspGreaterEqual:
      return stored >= operand;
    case kNspLike:
      return wildcard_match(operand, stored);
    case kNspContains:
      return stored.find(operand) != std::string::npos;
    case kNspBeginsWith:
      return stored.compare(0, operand.size(), operand) == 0;
    case kNspEndsWith:
      return stored.size() >= operand.size() &&
             stored.compare(stored.size() - operand.size(), operand.size(), operand) == 0;
  }
  return false;
}

// ossa_nsp(stored, op, flags, operand): NSPredicate string operators with [c]/[d]. A missing value
// compares as the empty string.
void nsp_function(sqlite3_context* ctx, int, sqlite3_value** argv) {
  const auto text = [&](int n) {
    const auto* t = reinterpret_cast<const char*>(sqlite3_value_text(argv[n]));
    return t ? std::string(t, static_cast<size_t>(sqlite3_value_bytes(argv[n]))) : std::string();
  };
  const int op = sqlite3_value_int(argv[1]);
  const int flags = sqlite3_value_int(argv[2]);
  const std::string stored = fold(text(0), flags);
  const std::string operand = fold(text(3), flags);
  sqlite3_result_int(ctx, evaluate(op, stored, operand) ? 1 : 0);
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::string format_epoch(int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm parts{};
  gmtime_r(&t, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d%H%M%S", &parts);
  return text;
}

}  // namespace

Level level_of(Table table) {
  switch (table) {
    case Table::kStudy:
      return Level::kStudy;
    case Table::kSeries:
      return Level::kSeries;
    case Table::kImage:
      return Level::kInstance;
  }
  return Level::kStudy;
}

const char* to_string(Table table) {
  switch (table) {
    case Table::kStudy:
      return "Study";
    case Table::kSeries:
      return "Series";
    case Table::kImage:
      return "Image";
  }
  return "?";
}

std::vector<std::string> known_keys(Table table) {
  std::vector<std::string> out;
  for (const Key* k : keys_of(table)) out.push_back(k->name);
  return out;
}

SqlCondition translate(const Expr& expr, Table table) {
  Translator t(table);
  SqlCondition out;
  out.sql = t.expr(expr);
  out.params = std::move(t.params);
  return out;
}

std::optional<std::string> canonical_date(const std::string& input) {
  std::string text = trim(input);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  int consumed = 0;
  bool ok = false;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &consumed) == 3) {
    ok = true;
    std::string rest = text.substr(static_cast<size_t>(consumed));
    if (!rest.empty()) {
      int used = 0;
      if ((rest[0] == ' ' || rest[0] == 'T') &&
          std::sscanf(rest.c_str() + 1, "%2d:%2d:%2d%n", &h, &mi, &s, &used) == 3) {
        rest = trim(rest.substr(1 + static_cast<size_t>(used)));
      } else if ((rest[0] == ' ' || rest[0] == 'T') &&
                 std::sscanf(rest.c_str() + 1, "%2d:%2d%n", &h, &mi, &used) == 2) {
        rest = trim(rest.substr(1 + static_cast<size_t>(used)));
      } else {
        return std::nullopt;
      }
      // A UTC offset: "+0000", "-0500", "Z".
      int offset_minutes = 0;
      if (rest == "Z" || rest.empty()) {
        rest.clear();
      } else if ((rest[0] == '+' || rest[0] == '-') && rest.size() == 5 &&
                 std::all_of(rest.begin() + 1, rest.end(), ::isdigit)) {
        const int hh = std::stoi(rest.substr(1, 2));
        const int mm = std::stoi(rest.substr(3, 2));
        offset_minutes = (hh * 60 + mm) * (rest[0] == '-' ? -1 : 1);
        rest.clear();
      }
      if (!rest.empty()) return std::nullopt;
      if (offset_minutes != 0) {
        if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
        const int64_t epoch =
            days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
            h * 3600 + mi * 60 + s - offset_minutes * 60;
        return format_epoch(epoch);
      }
    }
  } else if ((text.size() == 8 || text.size() == 14) &&
             std::all_of(text.begin(), text.end(), ::isdigit)) {
    y = std::stoi(text.substr(0, 4));
    mo = std::stoi(text.substr(4, 2));
    d = std::stoi(text.substr(6, 2));
    if (text.size() == 14) {
      h = std::stoi(text.substr(8, 2));
      mi = std::stoi(text.substr(10, 2));
      s = std::stoi(text.substr(12, 2));
    }
    ok = true;
  }
  if (!ok || y < 1 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
    return std::nullopt;
  char out[80];
  std::snprintf(out, sizeof out, "%04d%02d%02d%02d%02d%02d", y, mo, d, h, mi, s);
  return std::string(out);
}

std::string canonical_date_from_reference_seconds(double seconds) {
  // NSDate's reference date, 2001-01-01 00:00:00 UTC, is 978307200 s after the Unix epoch.
  return format_epoch(static_cast<int64_t>(std::floor(seconds)) + 978307200);
}

void register_functions(sql::Database& db) {
  const int rc =
      sqlite3_create_function_v2(db.handle(), "ossa_nsp", 4, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                 nullptr, nsp_function, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) throw sql::Error(rc, "cannot register ossa_nsp");
}

}  // namespace ossa::index::predicate

namespace ossa::index {

namespace {

void merge_attrs(const std::string& text, Attributes& into) {
  const auto object = nlohmann::json::parse(text, nullptr, false);
  if (!object.is_object()) return;
  for (const auto& [key, value] : object.items()) {
    if (value.is_string()) into[static_cast<uint32_t>(std::stoul(key, nullptr, 16))] = value;
  }
}

std::string added_text(const std::string& received_at) {
  std::string out;
  for (char c : received_at)
    if (c >= '0' && c <= '9') out += c;
  return out;
}

}  // namespace

std::vector<predicate::PredicateMatch> SqliteIndex::find_by_predicate(predicate::Table table,
                                                                      const predicate::Expr& expr,
                                                                      size_t limit) {
  using predicate::Table;
  const predicate::SqlCondition where = predicate::translate(expr, table);
  const Level level = predicate::level_of(table);
  const char* alias = table == Table::kStudy ? "st" : table == Table::kSeries ? "se" : "i";
  const std::string ids_sql = "SELECT " + std::string(alias) + ".id" +
                              from_clause(static_cast<int>(level)) + " WHERE " + where.sql +
                              " ORDER BY " + alias + ".id LIMIT ?";
  static const char* const kRow[] = {
      // Study
      "SELECT p.attrs, p.num_studies, p.num_series, p.num_instances, st.attrs, st.num_series, "
      "st.num_instances, (SELECT group_concat(m.modality, '\\') FROM (SELECT DISTINCT modality "
      "FROM series WHERE study_fk = st.id AND modality <> '' ORDER BY modality) m), (SELECT "
      "min(ix.received_at) FROM series sx JOIN instances ix ON ix.series_fk = sx.id WHERE "
      "sx.study_fk = st.id) FROM patients p JOIN studies st ON st.patient_fk = p.id WHERE st.id = "
      "?",
      // Series
      "SELECT p.attrs, p.num_studies, p.num_series, p.num_instances, st.attrs, st.num_series, "
      "st.num_instances, se.attrs, se.num_instances, (SELECT min(ix.received_at) FROM instances "
      "ix WHERE ix.series_fk = se.id), (SELECT ix.sop_class_uid FROM instances ix WHERE "
      "ix.series_fk = se.id ORDER BY ix.id LIMIT 1) FROM patients p JOIN studies st ON "
      "st.patient_fk = p.id JOIN series se ON se.study_fk = st.id WHERE se.id = ?",
      // Image
      "SELECT p.attrs, p.num_studies, p.num_series, p.num_instances, st.attrs, st.num_series, "
      "st.num_instances, se.attrs, se.num_instances, i.attrs, i.received_at, i.file_path, "
      "i.transfer_syntax_uid FROM patients p JOIN studies st ON st.patient_fk = p.id JOIN series "
      "se ON se.study_fk = st.id JOIN instances i ON i.series_fk = se.id WHERE i.id = ?",
  };
  ReaderLease db(*this);
  std::vector<int64_t> ids;
  {
    sql::Statement matching = db->prepare(ids_sql);
    int n = 1;
    for (const auto& p : where.params) {
      if (p.is_int)
        matching.bind(n++, p.integer);
      else
        matching.bind(n++, p.text);
    }
    matching.bind(n, static_cast<int64_t>(limit));
    while (matching.step()) ids.push_back(matching.int64(0));
  }
  std::vector<predicate::PredicateMatch> out;
  auto& row = db->cached(kRow[table == Table::kStudy ? 0 : table == Table::kSeries ? 1 : 2]);
  for (const int64_t id : ids) {
    row.reset();
    row.bind(1, id);
    if (!row.step()) continue;
    predicate::PredicateMatch match;
    Attributes& a = match.attributes;
    merge_attrs(row.text(0), a);
    a[tags::kNumberOfPatientRelatedStudies] = std::to_string(row.int64(1));
    a[tags::kNumberOfPatientRelatedSeries] = std::to_string(row.int64(2));
    a[tags::kNumberOfPatientRelatedInstances] = std::to_string(row.int64(3));
    merge_attrs(row.text(4), a);
    a[tags::kNumberOfStudyRelatedSeries] = std::to_string(row.int64(5));
    a[tags::kNumberOfStudyRelatedInstances] = std::to_string(row.int64(6));
    if (table == Table::kStudy) {
      a[tags::kModalitiesInStudy] = row.text(7);
      match.date_added = added_text(row.text(8));
    } else {
      merge_attrs(row.text(7), a);
      a[tags::kNumberOfSeriesRelatedInstances] = std::to_string(row.int64(8));
      if (table == Table::kSeries) {
        match.date_added = added_text(row.text(9));
        a[tags::kSopClassUid] = row.text(10);
      } else {
        merge_attrs(row.text(9), a);
        match.date_added = added_text(row.text(10));
        match.file_path = row.text(11);
        a[tag(0x0008, 0x3002)] = row.text(12);  // Available Transfer Syntax UID
      }
    }
    out.push_back(std::move(match));
  }
  row.reset();
  return out;
}

}  // namespace ossa::index
