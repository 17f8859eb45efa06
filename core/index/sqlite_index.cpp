#include "index/sqlite_index.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <variant>

#include "index/attributes_json.h"
#include "index/sqlite_leases.h"
#include "index/sqlite.h"
#include "util/time_text.h"
#include "util/log.h"

namespace ossa::index {
namespace {

// Resets a statement when the scope ends.
class StatementReset {
 public:
  explicit StatementReset(sql::Statement& statement) : statement_(statement) {}
  ~StatementReset() { statement_.reset(); }
  StatementReset(const StatementReset&) = delete;
  StatementReset& operator=(const StatementReset&) = delete;

 private:
  sql::Statement& statement_;
};

// A read transaction on a reader connection for the life of the object.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(sql::Database& db) : db_(db) { db_.exec("BEGIN"); }
  ~ReadSnapshot() {
    try {
      db_.exec("COMMIT");
    } catch (...) {  // a read transaction has nothing to lose; never throw from a destructor
    }
  }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;

 private:
  sql::Database& db_;
};

constexpr int kSchemaVersion = 7;

const char* const kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS patients(
  id INTEGER PRIMARY KEY,
  patient_key TEXT NOT NULL UNIQUE,      -- Patient ID + US + Issuer of Patient ID
  patient_id TEXT NOT NULL,
  name_uc TEXT,                          -- Patient's Name, upper case, whole value
  name_alpha_uc TEXT,                    -- its component groups, when it has several
  name_ideo_uc TEXT,
  name_phon_uc TEXT,
  birth_date TEXT,
  sex TEXT,
  num_studies INTEGER NOT NULL DEFAULT 0,
  num_series INTEGER NOT NULL DEFAULT 0,
  num_instances INTEGER NOT NULL DEFAULT 0,
  attrs TEXT NOT NULL                    -- every patient-level attribute: {"ggggeeee": "value"}
);
CREATE INDEX IF NOT EXISTS patients_patient_id ON patients(patient_id);
CREATE INDEX IF NOT EXISTS patients_name_uc ON patients(name_uc);
CREATE INDEX IF NOT EXISTS patients_name_alpha_uc ON patients(name_alpha_uc);
CREATE INDEX IF NOT EXISTS patients_name_ideo_uc ON patients(name_ideo_uc);
CREATE INDEX IF NOT EXISTS patients_name_phon_uc ON patients(name_phon_uc);
CREATE INDEX IF NOT EXISTS patients_birth_date ON patients(birth_date);

CREATE TABLE IF NOT EXISTS studies(
  id INTEGER PRIMARY KEY,
  patient_fk INTEGER NOT NULL REFERENCES patients(id),
  study_instance_uid TEXT NOT NULL UNIQUE,
  study_date TEXT,                       -- YYYYMMDD
  study_time TEXT,                       -- HHMMSS.ffffff
  accession_number TEXT,
  study_id TEXT,
  num_series INTEGER NOT NULL DEFAULT 0,
  num_instances INTEGER NOT NULL DEFAULT 0,
  attrs TEXT NOT NULL,
  -- its patient's attrs, kept by the triggers below. (No comment may follow the next-to-last
  -- column's comma: SQLite's DROP COLUMN of the last one then fails to parse the table.)
  patient_attrs TEXT,
  modalities TEXT                        -- ModalitiesInStudy, '\'-joined (kept by the writer)
);
CREATE INDEX IF NOT EXISTS studies_patient_fk ON studies(patient_fk);
CREATE INDEX IF NOT EXISTS studies_study_date ON studies(study_date, study_time);
CREATE INDEX IF NOT EXISTS studies_accession_number ON studies(accession_number);
CREATE INDEX IF NOT EXISTS studies_study_id ON studies(study_id);
-- A study-level answer carries the patient's attributes; a copy in the studies row spares every
-- match a second row look-up (and the second page it reads). Triggers keep the copy, whichever
-- code writes a patient (ingest, demographics update, merge) or moves a study to another patient.
CREATE TRIGGER IF NOT EXISTS studies_patient_attrs_on_insert AFTER INSERT ON studies
BEGIN
  UPDATE studies SET patient_attrs = (SELECT attrs FROM patients WHERE id = NEW.patient_fk)
  WHERE id = NEW.id;
END;
CREATE TRIGGER IF NOT EXISTS studies_patient_attrs_on_move AFTER UPDATE OF patient_fk ON studies
BEGIN
  UPDATE studies SET patient_attrs = (SELECT attrs FROM patients WHERE id = NEW.patient_fk)
  WHERE id = NEW.id;
END;
CREATE TRIGGER IF NOT EXISTS studies_patient_attrs_on_update AFTER UPDATE OF attrs ON patients
BEGIN
  UPDATE studies SET patient_attrs = NEW.attrs WHERE patient_fk = NEW.id;
END;

CREATE TABLE IF NOT EXISTS series(
  id INTEGER PRIMARY KEY,
  study_fk INTEGER NOT NULL REFERENCES studies(id),
  series_instance_uid TEXT NOT NULL UNIQUE,
  modality TEXT,
  series_number TEXT,
  series_date TEXT,
  num_instances INTEGER NOT NULL DEFAULT 0,
  attrs TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS series_study_fk ON series(study_fk);
CREATE INDEX IF NOT EXISTS series_modality ON series(modality, study_fk);

CREATE TABLE IF NOT EXISTS instances(
  id INTEGER PRIMARY KEY,
  series_fk INTEGER NOT NULL REFERENCES series(id),
  sop_instance_uid TEXT NOT NULL UNIQUE,
  sop_class_uid TEXT NOT NULL,
  instance_number TEXT,
  transfer_syntax_uid TEXT NOT NULL,
  file_path TEXT NOT NULL UNIQUE,        -- relative to the storage root, chosen by Ossa
  file_size INTEGER NOT NULL,
  received_at TEXT NOT NULL,
  attrs TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_series_fk ON instances(series_fk);

-- Files replaced by a newer copy of their instance, awaiting deletion. Start-up deletes what is
-- left here after a crash, instead of scanning the store.
CREATE TABLE IF NOT EXISTS pending_files(path TEXT PRIMARY KEY) WITHOUT ROWID;

-- Durable jobs (send to / retrieve from remote nodes), run by the server, resumed after a restart.
CREATE TABLE IF NOT EXISTS jobs(
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,                    -- send | retrieve
  node TEXT NOT NULL,                    -- the remote node's name
  level TEXT NOT NULL,                   -- PATIENT | STUDY | SERIES | IMAGE
  uids TEXT NOT NULL,                    -- the entities' unique keys, joined by backslash
  method TEXT NOT NULL DEFAULT '',       -- retrieve: move | get
  state TEXT NOT NULL,                   -- pending | running | done | failed | cancelled
  total INTEGER NOT NULL DEFAULT 0,
  completed INTEGER NOT NULL DEFAULT 0,  -- sub-operations done (a resumed send skips these)
  failed INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,  -- unix seconds: backoff after a failed attempt
  error TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  origin_key TEXT                        -- what queued it, when asking again must not add a job
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, next_attempt_at);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_origin_key ON jobs(origin_key) WHERE origin_key IS NOT NULL;

-- Remote nodes added at run time (those of the configuration file are not stored here).
CREATE TABLE IF NOT EXISTS nodes(
  name TEXT PRIMARY KEY,
  aet TEXT NOT NULL UNIQUE,
  host TEXT NOT NULL,
  port INTEGER NOT NULL,
  move_destination INTEGER NOT NULL,
  query INTEGER NOT NULL,
  retrieve INTEGER NOT NULL,
  send INTEGER NOT NULL
) WITHOUT ROWID;

-- The durable change log (what plugins consume as on_stored events).
CREATE TABLE IF NOT EXISTS changes(
  seq INTEGER PRIMARY KEY,
  change_type TEXT NOT NULL,             -- stored | replaced | deleted
  sop_instance_uid TEXT NOT NULL,
  series_instance_uid TEXT NOT NULL,
  study_instance_uid TEXT NOT NULL,
  at TEXT NOT NULL,
  sop_class_uid TEXT NOT NULL DEFAULT '',
  patient_id TEXT NOT NULL DEFAULT '',
  calling_aet TEXT NOT NULL DEFAULT '',
  called_aet TEXT NOT NULL DEFAULT ''
);

-- How far each plugin's on_stored delivery has got in the change log (at-least-once delivery).
CREATE TABLE IF NOT EXISTS plugin_cursors(plugin TEXT PRIMARY KEY, seq INTEGER NOT NULL)
  WITHOUT ROWID;

-- Studies that received an instance and are not yet announced as stable (on_stable).
CREATE TABLE IF NOT EXISTS stable_watch(
  study_instance_uid TEXT PRIMARY KEY,
  last_at INTEGER NOT NULL                -- unix seconds of the latest instance
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS stable_watch_last_at ON stable_watch(last_at);
)SQL";

// ModalitiesInStudy of the study `studies.id`, sorted, '\\'-joined (NULL when none is known).
constexpr const char kModalitiesOfStudy[] =
    "(SELECT group_concat(modality, '\\') FROM (SELECT DISTINCT modality FROM series "
    "WHERE study_fk = studies.id AND modality <> '' ORDER BY modality))";

// ALTER TABLE ADD COLUMN, unless the table has that column already (an index written by a newer
// schema and labelled older, as the upgrade tests do).
void add_column_once(sql::Database& db, const std::string& table, const std::string& definition) {
  const std::string name = definition.substr(0, definition.find(' '));
  bool has_column = false;
  {
    sql::Statement columns =
        db.prepare("SELECT 1 FROM pragma_table_info('" + table + "') WHERE name = ?");
    columns.bind(1, name);
    has_column = columns.step();
  }
  if (!has_column) db.exec(("ALTER TABLE " + table + " ADD COLUMN " + definition).c_str());
}

std::string tag_key(uint32_t tag) {
  char text[9];
  std::snprintf(text, sizeof text, "%08X", tag);
  return text;
}

std::string person_name_key(const std::string& value) {
  std::string v = uppercase_utf8(trim(value));
  while (!v.empty() && (v.back() == '^' || v.back() == ' ')) v.pop_back();
  return v;
}

std::optional<std::string> name_group(const std::string& value, int group) {
  if (value.find('=') == std::string::npos) return std::nullopt;
  size_t start = 0;
  for (int g = 0; g < group; ++g) {
    start = value.find('=', start);
    if (start == std::string::npos) return std::nullopt;
    ++start;
  }
  const size_t end = value.find('=', start);
  std::string part =
      person_name_key(value.substr(start, end == std::string::npos ? end : end - start));
  if (part.empty()) return std::nullopt;
  return part;
}

// ---- Query translation -------------------------------------------------------------------

using Param = std::variant<std::string, int64_t>;

struct SqlWhere {
  std::string text;
  std::vector<Param> params;

  void add(const std::string& clause) { text += (text.empty() ? "" : " AND ") + clause; }
};

const char* alias_of(Level level) {
  switch (level) {
    case Level::kPatient:
      return "p";
    case Level::kStudy:
      return "st";
    case Level::kSeries:
      return "se";
    case Level::kInstance:
      return "i";
  }
  return "i";
}

// Indexed columns that carry a tag's value in the form matching compares (normalised dates and
// times), so SQLite can use an index instead of reading JSON.
const char* indexed_column(Level level, uint32_t t) {
  switch (level) {
    case Level::kPatient:
      if (t == tags::kPatientId) return "patient_id";
      if (t == tags::kPatientBirthDate) return "birth_date";
      if (t == tags::kPatientSex) return "sex";
      break;
    case Level::kStudy:
      if (t == tags::kStudyInstanceUid) return "study_instance_uid";
      if (t == tags::kStudyDate) return "study_date";
      if (t == tags::kStudyTime) return "study_time";
      if (t == tags::kAccessionNumber) return "accession_number";
      if (t == tags::kStudyId) return "study_id";
      break;
    case Level::kSeries:
      if (t == tags::kSeriesInstanceUid) return "series_instance_uid";
      if (t == tags::kModality) return "modality";
      break;
    case Level::kInstance:
      if (t == tags::kSopInstanceUid) return "sop_instance_uid";
      if (t == tags::kSopClassUid) return "sop_class_uid";
      break;
  }
  return nullptr;
}

// Native SQL for one condition on an indexed column `column` (already qualified).
std::string column_condition(const std::string& column, const Condition& c,
                             std::vector<Param>& params) {
  switch (c.kind) {
    case ValueKind::kDate:
    case ValueKind::kTime:
    case ValueKind::kDateTime: {
      std::string clause;
      if (!c.lower.empty()) {
        clause += column + " >= ?";
        params.push_back(c.lower);
      }
      if (!c.upper.empty()) {
        clause += std::string(clause.empty() ? "" : " AND ") + column + " <= ?";
        params.push_back(c.upper);
      }
      return clause.empty() ? "1" : clause;
    }
    case ValueKind::kUid:
      if (c.match == MatchKind::kUidList) {
        std::string list;
        for (const auto& uid : c.uids) {
          list += list.empty() ? "?" : ",?";
          params.push_back(uid);
        }
        return column + " IN (" + list + ")";
      }
      params.push_back(c.value);
      return column + " = ?";
    case ValueKind::kText:
    case ValueKind::kPersonName:
      if (c.match == MatchKind::kUidList) {
        std::string list;
        for (const auto& value : c.uids) {
          list += list.empty() ? "?" : ",?";
          params.push_back(value);
        }
        return column + " IN (" + list + ")";
      }
      if (c.match == MatchKind::kWildcard) {
        std::string clause = column + " GLOB ?";
        params.push_back(to_glob(c.value));
        const std::string prefix = literal_prefix(c.value);
        if (!prefix.empty()) {
          // An explicit range lets SQLite use the column's index for "DOE*" whatever the collation.
          clause += " AND " + column + " >= ?";
          params.push_back(prefix);
          const std::string next = prefix_successor(prefix);
          if (!next.empty()) {
            clause += " AND " + column + " < ?";
            params.push_back(next);
          }
        }
        return clause;
      }
      params.push_back(c.value);
      return column + " = ?";
    case ValueKind::kOther:
      break;
  }
  params.push_back(static_cast<int64_t>(c.kind));
  params.push_back(c.value);
  return "ossa_match(" + column + ", ?, ?)";
}

// `alone`: no other condition narrows the search. A condition on the study's series
// (ModalitiesInStudy, SOPClassesInStudy) then drives it: the studies come from the series index
// (IN). Beside another condition (a date range, say) it is checked per candidate instead
// (EXISTS): otherwise SQLite would first list the studies of every CT series in the archive
// (1,000,000 instances: 52 ms against 2 ms for a month of CT studies).
std::string condition_sql(const Condition& c, std::vector<Param>& params, bool alone) {
  const std::string alias = alias_of(c.level);
  if (c.level == Level::kPatient && c.tag == tags::kPatientName) {
    // The whole name, or (for a key without '=') any one of its component groups.
    if (c.value.find('=') != std::string::npos)
      return "(" + column_condition("p.name_uc", c, params) + ")";
    std::string clause;
    for (const char* col : {"p.name_uc", "p.name_alpha_uc", "p.name_ideo_uc", "p.name_phon_uc"})
      clause +=
          std::string(clause.empty() ? "" : " OR ") + "(" + column_condition(col, c, params) + ")";
    return "(" + clause + ")";
  }
  if (c.level == Level::kStudy && c.tag == tags::kModalitiesInStudy) {
    const std::string modality = column_condition("m.modality", c, params);
    return alone ? "st.id IN (SELECT m.study_fk FROM series m WHERE " + modality + ")"
                 : "EXISTS (SELECT 1 FROM series m WHERE m.study_fk = st.id AND " + modality + ")";
  }
  if (c.level == Level::kStudy && c.tag == tags::kSopClassesInStudy) {
    const std::string sop_class = column_condition("n.sop_class_uid", c, params);
    return alone ? "st.id IN (SELECT m.study_fk FROM series m JOIN instances n ON n.series_fk = "
                   "m.id WHERE " +
                       sop_class + ")"
                 : "EXISTS (SELECT 1 FROM series m JOIN instances n ON n.series_fk = m.id WHERE "
                   "m.study_fk = st.id AND " +
                       sop_class + ")";
  }
  if (const char* column = indexed_column(c.level, c.tag)) {
    return "(" + column_condition(alias + "." + column, c, params) + ")";
  }
  params.push_back("$.\"" + tag_key(c.tag) + "\"");
  params.push_back(static_cast<int64_t>(c.kind));
  params.push_back(c.value);
  return "ossa_match(json_extract(" + alias + ".attrs, ?), ?, ?)";
}

// SQL function ossa_match(stored, kind, key): the C++ matcher for attributes without a column.
void ossa_match_function(sqlite3_context* ctx, int, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    sqlite3_result_int(ctx, 0);
    return;
  }
  auto* condition = static_cast<Condition*>(sqlite3_get_auxdata(ctx, 2));
  if (!condition) {
    const auto kind = static_cast<ValueKind>(sqlite3_value_int(argv[1]));
    const auto* key = reinterpret_cast<const char*>(sqlite3_value_text(argv[2]));
    auto* made = new Condition(make_condition(0, Level::kInstance, kind, key ? key : ""));
    sqlite3_set_auxdata(ctx, 2, made, [](void* p) { delete static_cast<Condition*>(p); });
    condition = static_cast<Condition*>(sqlite3_get_auxdata(ctx, 2));
    if (!condition) {  // SQLite may drop auxdata immediately; evaluate without the cache
      Condition once = make_condition(0, Level::kInstance, kind, key ? key : "");
      const auto* stored = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
      sqlite3_result_int(ctx, matches(once, stored ? stored : "") ? 1 : 0);
      return;
    }
  }
  const auto* stored = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  sqlite3_result_int(ctx, matches(*condition, stored ? stored : "") ? 1 : 0);
}

void register_functions(sql::Database& db) {
  const int rc =
      sqlite3_create_function_v2(db.handle(), "ossa_match", 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                 nullptr, ossa_match_function, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) throw sql::Error(rc, "cannot register ossa_match");
  predicate::register_functions(db);  // ossa_nsp, used by OsiriX predicates
}

void bind_all(sql::Statement& statement, const std::vector<Param>& params, int first = 1) {
  int n = first;
  for (const auto& p : params) {
    if (std::holds_alternative<std::string>(p))
      statement.bind(n++, std::get<std::string>(p));
    else
      statement.bind(n++, std::get<int64_t>(p));
  }
}

std::string int_text(int64_t v) {
  return std::to_string(v);
}

// Dates and times are stored normalised, or NULL when absent or unreadable, so that an open range
// ("-20061231") never matches an entity without a date (as `matches` decides for JSON values).
void bind_or_null(sql::Statement& statement, int index, const std::string& normalized) {
  if (normalized.empty())
    statement.bind_null(index);
  else
    statement.bind(index, normalized);
}

}  // namespace

SqliteIndex::SqliteIndex(const std::filesystem::path& file) : file_(file) {
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  writer_ = std::make_unique<sql::Database>(file);
  register_functions(*writer_);
  create_schema();
}

void SqliteIndex::refresh_statistics() {
  std::lock_guard<std::mutex> lock(writer_mutex_);
  analyze();
  writer_->reset_all();
}

void SqliteIndex::analyze() {
  // The planner needs statistics to prefer, say, a date index over a modality list. With
  // analysis_limit each index is sampled, so this costs milliseconds at any archive size; but a
  // table without an index is counted row by row, and a bare ANALYZE read all of `changes` (one
  // row per stored instance: 200 MB, 4 s from a cold cache at 10^6 instances). Only the tables
  // whose indexes the planner chooses between are analysed.
  writer_->exec("PRAGMA analysis_limit=400");
  for (const char* statement : {"ANALYZE patients", "ANALYZE studies", "ANALYZE series",
                                "ANALYZE instances", "ANALYZE jobs", "ANALYZE stable_watch"}) {
    writer_->exec(statement);
  }
}

SqliteIndex::~SqliteIndex() = default;

std::function<Liveness()> SqliteIndex::liveness_check(
    std::chrono::milliseconds busy_timeout) const {
  // Copies, not `this`: the check may still run after the index is closed.
  return [file = file_, busy_timeout] { return probe(file, busy_timeout); };
}

void SqliteIndex::create_schema() {
  int64_t current = 0;
  {
    // Scoped: a statement left open would hold a read snapshot, and BEGIN IMMEDIATE on a stale
    // snapshot fails at once (SQLITE_BUSY_SNAPSHOT) instead of waiting for the lock.
    sql::Statement version = writer_->prepare("PRAGMA user_version");
    version.step();
    current = version.int64(0);
  }
  if (current > kSchemaVersion) {
    throw sql::Error(SQLITE_ERROR, "index " + file_.string() + " has schema version " +
                                       int_text(current) + ", newer than this Ossa (" +
                                       int_text(kSchemaVersion) + ")");
  }
  if (current == kSchemaVersion) return;  // nothing to create: no write lock needed
  // Every statement of the schema is idempotent (IF NOT EXISTS), so older versions are brought
  // up to date by running it again, after adding the columns tables gained since.
  sql::Transaction tx(*writer_);
  if (current >= 1 && current < 4) {
    for (const char* column : {"sop_class_uid", "patient_id", "calling_aet", "called_aet"}) {
      writer_->exec(
          (std::string("ALTER TABLE changes ADD COLUMN ") + column + " TEXT NOT NULL DEFAULT ''")
              .c_str());
    }
  }
  if (current >= 1 && current < 5) writer_->exec("ALTER TABLE jobs ADD COLUMN origin_key TEXT");
  if (current >= 1 && current < 6) {
    // Once per archive: every study's ModalitiesInStudy, from then on kept as series come and go.
    log::info("index: upgrading to schema 6 (ModalitiesInStudy kept in the studies row)");
    add_column_once(*writer_, "studies", "modalities TEXT");
    writer_->exec((std::string("UPDATE studies SET modalities = ") + kModalitiesOfStudy).c_str());
  }
  if (current >= 1 && current < 7) {
    // Once per archive: each study gets its patient's attributes (the triggers keep them after).
    log::info("index: upgrading to schema 7 (the patient's attributes in the studies row)");
    add_column_once(*writer_, "studies", "patient_attrs TEXT");
    writer_->exec(
        "UPDATE studies SET patient_attrs = (SELECT attrs FROM patients WHERE id = patient_fk)");
  }
  writer_->exec(kSchema);
  writer_->exec("PRAGMA user_version=7");
  tx.commit();
}

std::unique_ptr<sql::Database> SqliteIndex::acquire_reader() {
  {
    std::lock_guard<std::mutex> lock(readers_mutex_);
    if (!idle_readers_.empty()) {
      auto db = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return db;
    }
  }
  auto db = std::make_unique<sql::Database>(file_);
  register_functions(*db);
  return db;
}

void SqliteIndex::release_reader(std::unique_ptr<sql::Database> reader) {
  std::lock_guard<std::mutex> lock(readers_mutex_);
  if (idle_readers_.size() < 16) idle_readers_.push_back(std::move(reader));
}

void SqliteIndex::remove_pending_files(const std::vector<std::string>& paths) {
  if (paths.empty()) return;
  WriterLock lock(writer_mutex_, *writer_);
  sql::Transaction tx(*writer_);
  for (const auto& path : paths) {
    writer_->cached("DELETE FROM pending_files WHERE path = ?").bind(1, path).run();
  }
  tx.commit();
}

std::vector<std::string> SqliteIndex::pending_files() {
  WriterLock lock(writer_mutex_, *writer_);
  std::vector<std::string> out;
  auto& q = writer_->cached("SELECT path FROM pending_files");
  while (q.step()) out.push_back(q.text(0));
  return out;
}

bool SqliteIndex::is_file_referenced(const std::string& path) {
  WriterLock lock(writer_mutex_, *writer_);
  auto& q = writer_->cached("SELECT 1 FROM instances WHERE file_path = ?");
  q.bind(1, path);
  return q.step();
}

std::optional<StoredFile> SqliteIndex::instance_of_file(const std::string& path) {
  WriterLock lock(writer_mutex_, *writer_);
  auto& q =
      writer_->cached("SELECT sop_instance_uid, file_size FROM instances WHERE file_path = ?");
  q.bind(1, path);
  if (!q.step()) return std::nullopt;
  StoredFile file{q.text(0), static_cast<uint64_t>(q.int64(1))};
  q.reset();
  return file;
}

bool SqliteIndex::has_instance(const std::string& sop_instance_uid) {
  ReaderLease db(*this);
  auto& q = db->cached("SELECT 1 FROM instances WHERE sop_instance_uid = ?");
  q.bind(1, sop_instance_uid);
  return q.step();
}

int64_t SqliteIndex::ensure_patient(const InstanceRecord& r) {
  const std::string& patient_id = r.get(Level::kPatient, tags::kPatientId);
  const std::string key = patient_id + '\x1f' + r.get(Level::kPatient, tags::kIssuerOfPatientId);
  auto& find = writer_->cached("SELECT id FROM patients WHERE patient_key = ?");
  find.bind(1, key);
  if (find.step()) return find.int64(0);
  const std::string& name = r.get(Level::kPatient, tags::kPatientName);
  auto& insert = writer_->cached(
      "INSERT INTO patients(patient_key, patient_id, name_uc, name_alpha_uc, name_ideo_uc, "
      "name_phon_uc, birth_date, sex, attrs) VALUES(?,?,?,?,?,?,?,?,?)");
  insert.bind(1, key).bind(2, patient_id).bind(3, person_name_key(name));
  for (int group = 0; group < 3; ++group) {
    const auto part = name_group(name, group);
    if (part)
      insert.bind(4 + group, *part);
    else
      insert.bind_null(4 + group);
  }
  bind_or_null(insert, 7, normalize_date(r.get(Level::kPatient, tags::kPatientBirthDate)));
  insert.bind(8, trim(r.get(Level::kPatient, tags::kPatientSex)));
  insert.bind(9, attributes_to_json(r.attributes[static_cast<int>(Level::kPatient)]));
  insert.run();
  return writer_->last_insert_id();
}

int64_t SqliteIndex::ensure_study(const InstanceRecord& r, int64_t patient_id) {
  const std::string& uid = r.get(Level::kStudy, tags::kStudyInstanceUid);
  auto& find = writer_->cached("SELECT id FROM studies WHERE study_instance_uid = ?");
  find.bind(1, uid);
  if (find.step()) return find.int64(0);
  auto& insert = writer_->cached(
      "INSERT INTO studies(patient_fk, study_instance_uid, study_date, study_time, "
      "accession_number, study_id, attrs) VALUES(?,?,?,?,?,?,?)");
  insert.bind(1, patient_id).bind(2, uid);
  bind_or_null(insert, 3, normalize_date(r.get(Level::kStudy, tags::kStudyDate)));
  bind_or_null(insert, 4, normalize_time(r.get(Level::kStudy, tags::kStudyTime)));
  insert.bind(5, trim(r.get(Level::kStudy, tags::kAccessionNumber)));
  insert.bind(6, trim(r.get(Level::kStudy, tags::kStudyId)));
  insert.bind(7, attributes_to_json(r.attributes[static_cast<int>(Level::kStudy)]));
  insert.run();
  const int64_t id = writer_->last_insert_id();
  writer_->cached("UPDATE patients SET num_studies = num_studies + 1 WHERE id = ?")
      .bind(1, patient_id)
      .run();
  return id;
}

int64_t SqliteIndex::ensure_series(const InstanceRecord& r, int64_t study_id) {
  const std::string& uid = r.get(Level::kSeries, tags::kSeriesInstanceUid);
  auto& find = writer_->cached("SELECT id FROM series WHERE series_instance_uid = ?");
  find.bind(1, uid);
  if (find.step()) return find.int64(0);
  auto& insert = writer_->cached(
      "INSERT INTO series(study_fk, series_instance_uid, modality, series_number, series_date, "
      "attrs) VALUES(?,?,?,?,?,?)");
  insert.bind(1, study_id).bind(2, uid);
  insert.bind(3, trim(r.get(Level::kSeries, tags::kModality)));
  insert.bind(4, trim(r.get(Level::kSeries, tags::kSeriesNumber)));
  bind_or_null(insert, 5, normalize_date(r.get(Level::kSeries, tags::kSeriesDate)));
  insert.bind(6, attributes_to_json(r.attributes[static_cast<int>(Level::kSeries)]));
  insert.run();
  const int64_t id = writer_->last_insert_id();
  writer_->cached("UPDATE studies SET num_series = num_series + 1 WHERE id = ?")
      .bind(1, study_id)
      .run();
  refresh_study_modalities(study_id);
  writer_
      ->cached(
          "UPDATE patients SET num_series = num_series + 1 WHERE id = "
          "(SELECT patient_fk FROM studies WHERE id = ?)")
      .bind(1, study_id)
      .run();
  return id;
}

void SqliteIndex::refresh_study_modalities(int64_t study_id) {
  static const std::string update =
      std::string("UPDATE studies SET modalities = ") + kModalitiesOfStudy + " WHERE id = ?";
  writer_->cached(update.c_str()).bind(1, study_id).run();
}

void SqliteIndex::delete_instance_row(int64_t instance_id, int64_t series_id) {
  auto& parents = writer_->cached(
      "SELECT se.study_fk, st.patient_fk FROM series se JOIN studies st ON st.id = se.study_fk "
      "WHERE se.id = ?");
  parents.bind(1, series_id);
  if (!parents.step()) return;
  const int64_t study_id = parents.int64(0);
  const int64_t patient_id = parents.int64(1);
  writer_->cached("DELETE FROM instances WHERE id = ?").bind(1, instance_id).run();
  writer_->cached("UPDATE series SET num_instances = num_instances - 1 WHERE id = ?")
      .bind(1, series_id)
      .run();
  writer_->cached("UPDATE studies SET num_instances = num_instances - 1 WHERE id = ?")
      .bind(1, study_id)
      .run();
  writer_->cached("UPDATE patients SET num_instances = num_instances - 1 WHERE id = ?")
      .bind(1, patient_id)
      .run();
  // Empty parents go too, so counts and C-FIND never show an entity without instances.
  writer_->cached("DELETE FROM series WHERE id = ? AND num_instances <= 0")
      .bind(1, series_id)
      .run();
  if (writer_->changes() == 0) return;
  writer_->cached("UPDATE studies SET num_series = num_series - 1 WHERE id = ?")
      .bind(1, study_id)
      .run();
  refresh_study_modalities(study_id);
  writer_->cached("UPDATE patients SET num_series = num_series - 1 WHERE id = ?")
      .bind(1, patient_id)
      .run();
  writer_->cached("DELETE FROM studies WHERE id = ? AND num_series <= 0").bind(1, study_id).run();
  if (writer_->changes() == 0) return;
  writer_->cached("UPDATE patients SET num_studies = num_studies - 1 WHERE id = ?")
      .bind(1, patient_id)
      .run();
  writer_->cached("DELETE FROM patients WHERE id = ? AND num_studies <= 0")
      .bind(1, patient_id)
      .run();
}

std::vector<std::string> SqliteIndex::delete_entity(Level level, const std::string& key) {
  static const char* const kInstancesOf[] = {
      "SELECT i.id, i.series_fk, i.file_path, i.sop_instance_uid, se.series_instance_uid, "
      "st.study_instance_uid FROM instances i JOIN series se ON i.series_fk = se.id "
      "JOIN studies st ON se.study_fk = st.id JOIN patients p ON st.patient_fk = p.id "
      "WHERE p.patient_id = ?",
      "SELECT i.id, i.series_fk, i.file_path, i.sop_instance_uid, se.series_instance_uid, "
      "st.study_instance_uid FROM instances i JOIN series se ON i.series_fk = se.id "
      "JOIN studies st ON se.study_fk = st.id WHERE st.study_instance_uid = ?",
      "SELECT i.id, i.series_fk, i.file_path, i.sop_instance_uid, se.series_instance_uid, "
      "st.study_instance_uid FROM instances i JOIN series se ON i.series_fk = se.id "
      "JOIN studies st ON se.study_fk = st.id WHERE se.series_instance_uid = ?",
      "SELECT i.id, i.series_fk, i.file_path, i.sop_instance_uid, se.series_instance_uid, "
      "st.study_instance_uid FROM instances i JOIN series se ON i.series_fk = se.id "
      "JOIN studies st ON se.study_fk = st.id WHERE i.sop_instance_uid = ?",
  };
  struct Row {
    int64_t id, series;
    std::string path, sop, series_uid, study_uid;
  };
  const std::string now = util::now_utc_iso8601();
  WriterLock lock(writer_mutex_, *writer_);
  sql::Transaction tx(*writer_);
  std::vector<Row> rows;
  {
    auto& q = writer_->cached(kInstancesOf[static_cast<int>(level)]);
    q.bind(1, key);
    while (q.step())
      rows.push_back({q.int64(0), q.int64(1), q.text(2), q.text(3), q.text(4), q.text(5)});
    q.reset();
  }
  std::vector<std::string> files;
  for (const auto& r : rows) {
    // Journalled with the deletion itself: a crash after commit still deletes the file at start.
    writer_->cached("INSERT OR IGNORE INTO pending_files(path) VALUES(?)").bind(1, r.path).run();
    delete_instance_row(r.id, r.series);
    writer_
        ->cached(
            "INSERT INTO changes(change_type, sop_instance_uid, series_instance_uid, "
            "study_instance_uid, at) VALUES('deleted',?,?,?,?)")
        .bind(1, r.sop)
        .bind(2, r.series_uid)
        .bind(3, r.study_uid)
        .bind(4, now)
        .run();
    files.push_back(r.path);
  }
  tx.commit();
  return files;
}

bool SqliteIndex::update_patient(const std::string& patient_id, const Attributes& attributes) {
  WriterLock lock(writer_mutex_, *writer_);
  sql::Transaction tx(*writer_);
  std::vector<std::pair<int64_t, std::string>> rows;
  {
    auto& q = writer_->cached("SELECT id, attrs FROM patients WHERE patient_id = ?");
    q.bind(1, patient_id);
    while (q.step()) rows.emplace_back(q.int64(0), q.text(1));
    q.reset();
  }
  for (const auto& [id, json] : rows) {
    Attributes merged;
    merge_attributes_json(json, merged);
    for (const auto& [t, value] : attributes) {
      if (t != tags::kPatientId) merged[t] = value;  // the ID is the key: merge_patient changes it
    }
    const auto get = [&](uint32_t t) {
      const auto it = merged.find(t);
      return it == merged.end() ? std::string() : it->second;
    };
    const std::string name = get(tags::kPatientName);
    auto& update = writer_->cached(
        "UPDATE patients SET name_uc = ?, name_alpha_uc = ?, name_ideo_uc = ?, name_phon_uc = ?, "
        "birth_date = ?, sex = ?, attrs = ? WHERE id = ?");
    update.bind(1, person_name_key(name));
    for (int group = 0; group < 3; ++group) {
      const auto part = name_group(name, group);
      if (part)
        update.bind(2 + group, *part);
      else
        update.bind_null(2 + group);
    }
    bind_or_null(update, 5, normalize_date(get(tags::kPatientBirthDate)));
    update.bind(6, trim(get(tags::kPatientSex)));
    update.bind(7, attributes_to_json(merged)).bind(8, id);
    update.run();
  }
  tx.commit();
  return !rows.empty();
}

bool SqliteIndex::merge_patient(const std::string& old_patient_id,
                                const std::string& new_patient_id) {
  WriterLock lock(writer_mutex_, *writer_);
  sql::Transaction tx(*writer_);
  std::vector<std::pair<int64_t, std::string>> old_rows;
  {
    auto& q = writer_->cached("SELECT id, attrs FROM patients WHERE patient_id = ?");
    q.bind(1, old_patient_id);
    while (q.step()) old_rows.emplace_back(q.int64(0), q.text(1));
    q.reset();
  }
  if (old_rows.empty()) return false;
  int64_t target = 0;
  {
    auto& q = writer_->cached("SELECT id FROM patients WHERE patient_key = ?");
    q.bind(1, new_patient_id + '\x1f');
    if (q.step()) target = q.int64(0);
    q.reset();
  }
  for (const auto& [id, json] : old_rows) {
    // Merging a patient into itself (same ID) leaves it as it is: moving its studies onto its
    // own row and then deleting that row would orphan them.
    if (id == target) continue;
    if (target == 0) {
      // The new ID is unknown: the old patient simply takes it.
      Attributes attrs;
      merge_attributes_json(json, attrs);
      attrs[tags::kPatientId] = new_patient_id;
      attrs.erase(tags::kIssuerOfPatientId);
      writer_->cached("UPDATE patients SET patient_key = ?, patient_id = ?, attrs = ? WHERE id = ?")
          .bind(1, new_patient_id + '\x1f')
          .bind(2, new_patient_id)
          .bind(3, attributes_to_json(attrs))
          .bind(4, id)
          .run();
      target = id;
      continue;
    }
    writer_->cached("UPDATE studies SET patient_fk = ? WHERE patient_fk = ?")
        .bind(1, target)
        .bind(2, id)
        .run();
    writer_
        ->cached(
            "UPDATE patients SET num_studies = num_studies + (SELECT num_studies FROM patients "
            "WHERE id = ?1), num_series = num_series + (SELECT num_series FROM patients WHERE "
            "id = ?1), num_instances = num_instances + (SELECT num_instances FROM patients "
            "WHERE id = ?1) WHERE id = ?2")
        .bind(1, id)
        .bind(2, target)
        .run();
    writer_->cached("DELETE FROM patients WHERE id = ?").bind(1, id).run();
  }
  tx.commit();
  return true;
}

std::vector<StoreResult> SqliteIndex::store_instances(
    const std::vector<const InstanceRecord*>& records, DuplicatePolicy policy,
    const std::function<void()>& before_replacing) {
  std::vector<StoreResult> results;
  results.reserve(records.size());
  const std::string now = util::now_utc_iso8601();
  WriterLock lock(writer_mutex_, *writer_);
  // The caller flushes the file system after the commit, together with the batch's files; a
  // flushed commit would cost a second flush of its own.
  const UnflushedCommits unflushed(*writer_);
  sql::Transaction tx(*writer_);
  bool replaced_any = false;
  for (const InstanceRecord* r : records) {
    StoreResult result;
    const std::string& sop_uid = r->get(Level::kInstance, tags::kSopInstanceUid);
    auto& existing = writer_->cached(
        "SELECT id, series_fk, file_path FROM instances WHERE sop_instance_uid = ?");
    existing.bind(1, sop_uid);
    if (existing.step()) {
      const int64_t old_id = existing.int64(0);
      const int64_t old_series = existing.int64(1);
      const std::string old_path = existing.text(2);
      existing.reset();
      if (policy == DuplicatePolicy::kKeep) {
        result.outcome = StoreOutcome::kKeptExisting;
        results.push_back(result);
        continue;
      }
      if (!replaced_any) {
        replaced_any = true;
        before_replacing();
      }
      delete_instance_row(old_id, old_series);
      result.outcome = StoreOutcome::kReplaced;
      result.obsolete_file = old_path;
      writer_->cached("INSERT OR IGNORE INTO pending_files(path) VALUES(?)")
          .bind(1, old_path)
          .run();
    }
    const int64_t patient_id = ensure_patient(*r);
    const int64_t study_id = ensure_study(*r, patient_id);
    const int64_t series_id = ensure_series(*r, study_id);
    auto& insert = writer_->cached(
        "INSERT INTO instances(series_fk, sop_instance_uid, sop_class_uid, instance_number, "
        "transfer_syntax_uid, file_path, file_size, received_at, attrs) VALUES(?,?,?,?,?,?,?,?,?)");
    insert.bind(1, series_id).bind(2, sop_uid);
    insert.bind(3, trim(r->get(Level::kInstance, tags::kSopClassUid)));
    insert.bind(4, trim(r->get(Level::kInstance, tags::kInstanceNumber)));
    insert.bind(5, r->transfer_syntax_uid).bind(6, r->file_path);
    insert.bind(7, static_cast<int64_t>(r->file_size)).bind(8, now);
    insert.bind(9, attributes_to_json(r->attributes[static_cast<int>(Level::kInstance)]));
    insert.run();
    writer_->cached("UPDATE series SET num_instances = num_instances + 1 WHERE id = ?")
        .bind(1, series_id)
        .run();
    writer_->cached("UPDATE studies SET num_instances = num_instances + 1 WHERE id = ?")
        .bind(1, study_id)
        .run();
    writer_->cached("UPDATE patients SET num_instances = num_instances + 1 WHERE id = ?")
        .bind(1, patient_id)
        .run();
    writer_
        ->cached(
            "INSERT INTO changes(change_type, sop_instance_uid, series_instance_uid, "
            "study_instance_uid, at, sop_class_uid, patient_id, calling_aet, called_aet) "
            "VALUES(?,?,?,?,?,?,?,?,?)")
        .bind(1, std::string(result.outcome == StoreOutcome::kReplaced ? "replaced" : "stored"))
        .bind(2, sop_uid)
        .bind(3, r->get(Level::kSeries, tags::kSeriesInstanceUid))
        .bind(4, r->get(Level::kStudy, tags::kStudyInstanceUid))
        .bind(5, now)
        .bind(6, trim(r->get(Level::kInstance, tags::kSopClassUid)))
        .bind(7, trim(r->get(Level::kPatient, tags::kPatientId)))
        .bind(8, r->calling_aet)
        .bind(9, r->called_aet)
        .run();
    // The study is watched until it has been quiet long enough to be announced stable.
    // Only a later second changes the row: the rest of a study's instances write no page here.
    writer_
        ->cached(
            "INSERT INTO stable_watch(study_instance_uid, last_at) VALUES(?,?) "
            "ON CONFLICT(study_instance_uid) DO UPDATE SET last_at = excluded.last_at "
            "WHERE excluded.last_at > stable_watch.last_at")
        .bind(1, r->get(Level::kStudy, tags::kStudyInstanceUid))
        .bind(2, static_cast<int64_t>(std::time(nullptr)))
        .run();
    results.push_back(result);
  }
  tx.commit();
  // Statistics follow the archive's growth: refreshed after every ~50,000 new instances.
  stored_since_analyze_ += records.size();
  if (stored_since_analyze_ >= 50000) {
    stored_since_analyze_ = 0;
    analyze();
  }
  return results;
}

// FROM clause joining the levels from PATIENT down to `depth`.
// Without `with_patients` (below PATIENT level only) it starts at the studies.
std::string SqliteIndex::from_clause(int depth, bool with_patients) {
  std::string from = " FROM patients p";
  if (depth >= 1)
    from = with_patients ? from + " JOIN studies st ON st.patient_fk = p.id" : " FROM studies st";
  if (depth >= 2) from += " JOIN series se ON se.study_fk = st.id";
  if (depth >= 3) from += " JOIN instances i ON i.series_fk = se.id";
  return from;
}

// Two phases. Selecting only the matching ids, without ORDER BY or LIMIT, leaves SQLite free to
// drive the search from the most selective index (a name prefix, a date range); ordering by id
// with a LIMIT would make it walk the whole table in id order instead. The ids (8 bytes per match)
// are sorted for a stable order; callers then fetch rows one by one by primary key.
std::vector<int64_t> SqliteIndex::matching_ids(sql::Database& db, const FindQuery& query) {
  const int depth = static_cast<int>(query.level);
  const auto applies = [depth](const Condition& c) {
    return c.match != MatchKind::kUniversal && static_cast<int>(c.level) <= depth;
  };
  const bool alone = std::count_if(query.conditions.begin(), query.conditions.end(), applies) == 1;
  SqlWhere where;
  for (const auto& c : query.conditions) {
    if (applies(c)) where.add(condition_sql(c, where.params, alone));
  }
  const std::string ids_sql = "SELECT " + std::string(alias_of(query.level)) + ".id" +
                              from_clause(depth) +
                              (where.text.empty() ? "" : " WHERE " + where.text);
  log::debug("index query: ", ids_sql);
  std::vector<int64_t> ids;
  sql::Statement matching = db.prepare(ids_sql);
  bind_all(matching, where.params);
  while (matching.step()) ids.push_back(matching.int64(0));
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<InstanceLocation> SqliteIndex::find_instances(const FindQuery& query) {
  static const char* const kByLevel[] = {
      "SELECT i.sop_class_uid, i.sop_instance_uid, i.transfer_syntax_uid, i.file_path FROM "
      "instances i JOIN series se ON i.series_fk = se.id JOIN studies st ON se.study_fk = st.id "
      "WHERE st.patient_fk = ? ORDER BY st.id, se.id, i.id",
      "SELECT i.sop_class_uid, i.sop_instance_uid, i.transfer_syntax_uid, i.file_path FROM "
      "instances i JOIN series se ON i.series_fk = se.id WHERE se.study_fk = ? ORDER BY se.id, "
      "i.id",
      "SELECT sop_class_uid, sop_instance_uid, transfer_syntax_uid, file_path FROM instances "
      "WHERE series_fk = ? ORDER BY id",
      "SELECT sop_class_uid, sop_instance_uid, transfer_syntax_uid, file_path FROM instances "
      "WHERE id = ?",
  };
  ReaderLease db(*this);
  std::vector<InstanceLocation> out;
  const std::vector<int64_t> ids = matching_ids(*db, query);
  auto& below = db->cached(kByLevel[static_cast<int>(query.level)]);
  for (const int64_t id : ids) {
    below.reset();
    below.bind(1, id);
    while (below.step()) {
      out.push_back({below.text(0), below.text(1), below.text(2), below.text(3)});
    }
  }
  return out;
}

// The statement that reads one match of a C-FIND at `level` by its id: per level from PATIENT
// down, the attributes and counters (the patient's counters only when asked for), then the
// computed attributes asked for. One text per
// combination, built once, so each connection prepares it once (Database::cached).
const char* SqliteIndex::find_row_sql(Level level, const RowColumns& wanted) {
  static const std::vector<std::string> texts = [] {
    std::vector<std::string> all;
    for (int depth = 0; depth < kLevelCount; ++depth) {
      for (int variant = 0; variant < 8; ++variant) {
        // Below PATIENT level the patient's row is read only for its counters; its attributes
        // come from the copy in the studies row.
        const bool patient_row = depth == 0 || (variant & 4);
        std::string select = "SELECT " + std::string(alias_of(static_cast<Level>(depth))) + ".id";
        select += patient_row ? ", p.attrs, p.num_studies, p.num_series, p.num_instances"
                              : ", st.patient_attrs";
        if (depth >= 1) select += ", st.attrs, st.num_series, st.num_instances";
        if (depth >= 2) select += ", se.attrs, se.num_instances";
        if (depth >= 3) select += ", i.attrs, i.transfer_syntax_uid";
        if (depth >= 1 && (variant & 1)) select += ", st.modalities";
        if (depth >= 1 && (variant & 2)) {
          select +=
              ", (SELECT group_concat(sop_class_uid, '\\') FROM (SELECT DISTINCT n.sop_class_uid "
              "FROM series m JOIN instances n ON n.series_fk = m.id WHERE m.study_fk = st.id "
              "ORDER BY 1))";
        }
        all.push_back(select + from_clause(depth, patient_row) + " WHERE " +
                      alias_of(static_cast<Level>(depth)) + ".id = ?");
      }
    }
    return all;
  }();
  const int variant =
      (wanted.modalities ? 1 : 0) | (wanted.sop_classes ? 2 : 0) | (wanted.patient_counts ? 4 : 0);
  return texts[static_cast<size_t>(level) * 8 + variant].c_str();
}

void SqliteIndex::find(const FindQuery& query, const std::function<bool(FindMatch&&)>& on_match) {
  const int depth = static_cast<int>(query.level);
  RowColumns wanted;
  wanted.modalities = depth >= 1 && query.computed.count(tags::kModalitiesInStudy);
  wanted.sop_classes = depth >= 1 && query.computed.count(tags::kSopClassesInStudy);
  wanted.patient_counts = depth == 0 ||
                          query.computed.count(tags::kNumberOfPatientRelatedStudies) ||
                          query.computed.count(tags::kNumberOfPatientRelatedSeries) ||
                          query.computed.count(tags::kNumberOfPatientRelatedInstances);

  ReaderLease db(*this);
  const std::vector<int64_t> ids = matching_ids(*db, query);
  sql::Statement& row = db->cached(find_row_sql(query.level, wanted));
  // Rows are read a page at a time in one read transaction (one snapshot and one set of locks
  // per page instead of per row), and the page is handed out after the transaction ends: no
  // snapshot stays open while the caller sends answers to a peer that may be slow.
  constexpr size_t kPageSize = 64;
  std::vector<FindMatch> page;
  for (size_t start = 0; start < ids.size(); start += kPageSize) {
    page.clear();
    {
      const ReadSnapshot snapshot(*db);
      // Reset before the snapshot ends, whatever happens: a cached statement left stepping would
      // keep its read lock after the connection goes back to the pool.
      const StatementReset reset_row(row);
      for (size_t k = start; k < std::min(ids.size(), start + kPageSize); ++k) {
        row.reset();
        row.bind(1, ids[k]);
        if (!row.step()) continue;  // deleted since the first phase
        FindMatch match;
        Attributes& a = match.attributes;
        int col = 1;
        merge_attributes_json(row.text_view(col++), a);
        if (wanted.patient_counts) {
          a[tags::kNumberOfPatientRelatedStudies] = int_text(row.int64(col++));
          a[tags::kNumberOfPatientRelatedSeries] = int_text(row.int64(col++));
          a[tags::kNumberOfPatientRelatedInstances] = int_text(row.int64(col++));
        }
        if (depth >= 1) {
          merge_attributes_json(row.text_view(col++), a);
          a[tags::kNumberOfStudyRelatedSeries] = int_text(row.int64(col++));
          a[tags::kNumberOfStudyRelatedInstances] = int_text(row.int64(col++));
        }
        if (depth >= 2) {
          merge_attributes_json(row.text_view(col++), a);
          a[tags::kNumberOfSeriesRelatedInstances] = int_text(row.int64(col++));
        }
        if (depth >= 3) {
          merge_attributes_json(row.text_view(col++), a);
          a[tag(0x0008, 0x3002)] = row.text(col++);  // Available Transfer Syntax UID
        }
        if (wanted.modalities) a[tags::kModalitiesInStudy] = row.text(col++);
        if (wanted.sop_classes) a[tags::kSopClassesInStudy] = row.text(col++);
        page.push_back(std::move(match));
      }
    }
    for (FindMatch& match : page) {
      if (!on_match(std::move(match))) return;
    }
  }
}

std::optional<InstanceLocation> SqliteIndex::location_of_instance(
    const std::string& sop_instance_uid) {
  ReaderLease db(*this);
  auto& q = db->cached(
      "SELECT sop_class_uid, transfer_syntax_uid, file_path FROM instances "
      "WHERE sop_instance_uid = ?");
  q.bind(1, sop_instance_uid);
  if (!q.step()) return std::nullopt;
  InstanceLocation location{q.text(0), sop_instance_uid, q.text(1), q.text(2)};
  q.reset();
  return location;
}

Counts SqliteIndex::counts() {
  ReaderLease db(*this);
  Counts c;
  auto& q = db->cached(
      "SELECT (SELECT count(*) FROM patients), (SELECT count(*) FROM studies), "
      "(SELECT count(*) FROM series), (SELECT count(*) FROM instances)");
  if (q.step()) {
    c.patients = q.int64(0);
    c.studies = q.int64(1);
    c.series = q.int64(2);
    c.instances = q.int64(3);
  }
  return c;
}

bool SqliteIndex::ping() {
  try {
    ReaderLease db(*this);
    auto& q = db->cached("SELECT count(*) FROM (SELECT 1 FROM instances LIMIT 1)");
    return q.step();
  } catch (const sql::Error&) {
    return false;
  }
}

}  // namespace ossa::index
