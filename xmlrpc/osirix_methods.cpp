// The OsiriX methods (Horos/OsiriX 6 XMLRPCMethods.mm), answered in OsiriX's shapes: one struct
// parameter in, a struct out whose `error` is a string ("0" success, "-1", "-2", "-3" as OsiriX
// uses them), with `elements` where OsiriX returns them. A bad call (missing or mistyped parameter,
// a predicate that does not parse) is a fault with code 400, OsiriX's "bad request" code. Where
// Ossa adds information OsiriX does not give (why something failed, the job a retrieval queued), it
// is an extra member: `message`, `jobID`.

#include <cstdio>
#include <ctime>
#include <filesystem>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "index/predicate.h"
#include "util/log.h"
#include "xmlrpc/dicom_keys.h"
#include "xmlrpc/method_registry.h"
#include "xmlrpc/osirix_elements.h"
#include "xmlrpc/params.h"
#include "xmlrpc/predicate_parser.h"
#include "xmlrpc/services.h"
#include "xmlrpc/url_download.h"

namespace ossa::xmlrpc {
namespace {

using index::predicate::Expr;
using index::predicate::Literal;
using index::predicate::Op;
using index::predicate::Table;

// The most elements one call returns (OsiriX has no limit; a runaway "TRUEPREDICATE" on a large
// archive must not build a gigabyte reply).
constexpr size_t kMaxElements = 10000;

using Members = std::map<std::string, xmlrpc_c::value>;

xmlrpc_c::value reply(const std::string& error, Members members = {}) {
  members["error"] = xmlrpc_c::value_string(error);
  return xmlrpc_c::value_struct(members);
}

xmlrpc_c::value failure(const std::string& error, const std::string& message) {
  return reply(error, {{"message", xmlrpc_c::value_string(message)}});
}

xmlrpc_c::value elements_reply(Table table, const std::vector<index::predicate::PredicateMatch>& m,
                               const archive::Archive& archive) {
  if (m.empty()) return reply("-1");
  std::vector<xmlrpc_c::value> elements;
  for (const auto& match : m) elements.push_back(osirix_element(table, match, archive));
  return reply("0", {{"elements", xmlrpc_c::value_array(elements)}});
}

Expr equals(const std::string& key, const std::string& value) {
  Expr e;
  e.kind = Expr::Kind::kCompare;
  e.key = key;
  e.op = Op::kEqual;
  Literal l;
  l.text = value;
  e.values.push_back(l);
  return e;
}

Expr all_of(std::vector<Expr> parts) {
  if (parts.size() == 1) return parts[0];
  Expr e;
  e.kind = Expr::Kind::kAnd;
  e.children = std::move(parts);
  return e;
}

std::optional<std::string> first_of(const Params& p, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (auto v = p.optional_text(n)) return v;
  return std::nullopt;
}

Table parse_table(const Params& p) {
  const std::string table = p.string("table");
  const std::string t = lower(table);
  if (t == "study") return Table::kStudy;
  if (t == "series") return Table::kSeries;
  if (t == "image") return Table::kImage;
  p.fail("table must be Study, Series or Image, not '" + table + "'");
}

xmlrpc_c::value db_window_find(Services& s, const xmlrpc_c::paramList& list, const CallContext& c) {
  const Params p = Params::osirix(list);
  const std::string request = p.string("request");
  const Table table = parse_table(p);
  const std::string execute = lower(p.optional_string("execute").value_or(""));
  Expr expr;
  try {
    expr = parse_predicate(request);
  } catch (const PredicateSyntaxError& e) {
    p.fail(std::string("request: ") + e.what());
  }
  std::vector<index::predicate::PredicateMatch> matches;
  try {
    matches = s.archive->find_by_predicate(table, expr, kMaxElements);
  } catch (const index::predicate::PredicateError& e) {
    p.fail(std::string("request: ") + e.what());
  }
  xmlrpc_c::value answer = elements_reply(table, matches, *s.archive);
  if (execute == "delete" && !matches.empty()) {
    // As OsiriX: the whole study owning each match goes (OsiriX cannot delete a single series).
    std::set<std::string> studies;
    for (const auto& m : matches) {
      const auto it = m.attributes.find(index::tags::kStudyInstanceUid);
      if (it != m.attributes.end()) studies.insert(it->second);
    }
    size_t instances = 0;
    for (const auto& uid : studies)
      instances += s.archive->delete_entity(index::Level::kStudy, uid);
    log::info("xml-rpc DBWindowFind from ", c.peer, " deleted ", studies.size(), " stud",
              studies.size() == 1 ? "y" : "ies", " (", instances, " instances) matching ", request);
  }
  return answer;
}

xmlrpc_c::value display_study(Services& s, const xmlrpc_c::paramList& list, const CallContext&) {
  const Params p = Params::osirix(list);
  std::vector<Expr> parts;
  if (auto v = first_of(p, {"PatientID", "patientID"})) parts.push_back(equals("patientID", *v));
  if (auto v = first_of(p, {"StudyInstanceUID", "studyInstanceUID"}))
    parts.push_back(equals("studyInstanceUID", *v));
  if (auto v = first_of(p, {"AccessionNumber", "accessionNumber"}))
    parts.push_back(equals("accessionNumber", *v));
  if (auto v = first_of(p, {"StudyID", "studyID"})) parts.push_back(equals("id", *v));
  if (parts.empty())
    p.fail("give at least one of PatientID, StudyInstanceUID, AccessionNumber, StudyID");
  return elements_reply(Table::kStudy,
                        s.archive->find_by_predicate(Table::kStudy, all_of(parts), kMaxElements),
                        *s.archive);
}

xmlrpc_c::value display_series(Services& s, const xmlrpc_c::paramList& list, const CallContext&) {
  const Params p = Params::osirix(list);
  std::vector<Expr> parts;
  if (auto v = first_of(p, {"PatientID", "patientID"}))
    parts.push_back(equals("study.patientID", *v));
  if (auto v = first_of(p, {"SeriesInstanceUID", "seriesInstanceUID"}))
    parts.push_back(equals("seriesDICOMUID", *v));
  if (parts.empty()) p.fail("give at least one of PatientID, SeriesInstanceUID");
  return elements_reply(Table::kSeries,
                        s.archive->find_by_predicate(Table::kSeries, all_of(parts), kMaxElements),
                        *s.archive);
}

// Study-level C-FIND on `node` with `filters`, then one durable retrieve job for every match.
xmlrpc_c::value query_and_retrieve(Services& s, const archive::Node& node,
                                   const std::vector<std::pair<std::string, std::string>>& filters,
                                   const std::string& method, const Params& p,
                                   const char* no_match_error) {
  if (!node.query || !node.retrieve) {
    return failure(
        "-1", "node " + node.name + " must allow query and retrieve (query: true, retrieve: true)");
  }
  DcmDataset identifier;
  identifier.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  identifier.insertEmptyElement(DCM_StudyInstanceUID);
  for (const auto& [key, value] : filters) {
    const std::string error = put_key(identifier, key, value);
    if (!error.empty()) p.fail(error);
  }
  std::vector<std::string> uids;
  std::string why;
  const bool ok = dicom::find(
      node, s.scu, false, identifier,
      [&](DcmDataset& answer) {
        OFString uid;
        if (answer.findAndGetOFString(DCM_StudyInstanceUID, uid).good() && !uid.empty())
          uids.emplace_back(uid.c_str());
        return true;
      },
      why);
  if (!ok) return failure("-1", "C-FIND on " + node.name + " failed: " + why);
  if (uids.empty()) return failure(no_match_error, "no study on " + node.name + " matches");
  index::Job job;
  job.kind = "retrieve";
  job.node = node.name;
  job.level = "STUDY";
  job.method = method;
  for (const auto& uid : uids) job.uids += (job.uids.empty() ? "" : "\\") + uid;
  const int64_t id = s.archive->queue_job(job);
  log::info("xml-rpc: retrieve job ", id, " queued: ", uids.size(), " stud",
            uids.size() == 1 ? "y" : "ies", " from ", node.name, " by C-",
            method == "get" ? "GET" : "MOVE");
  return reply("0", {{"jobID", xmlrpc_c::value_string(std::to_string(id))},
                     {"studies", xmlrpc_c::value_int(static_cast<int>(uids.size()))}});
}

xmlrpc_c::value retrieve(Services& s, const xmlrpc_c::paramList& list, const CallContext&) {
  const Params p = Params::osirix(list);
  const std::string server = p.string("serverName");
  std::vector<std::pair<std::string, std::string>> filters;
  for (int n = 1; n <= 9; ++n) {
    const std::string suffix = n == 1 ? "" : std::to_string(n);
    const auto key = p.optional_string("filterKey" + suffix);
    const auto value = p.optional_text("filterValue" + suffix);
    if (!key && !value) continue;
    if (!key || !value) p.fail("filterKey" + suffix + " and filterValue" + suffix + " go together");
    filters.emplace_back(*key, *value);
  }
  if (filters.empty()) p.fail("give at least one filterKey/filterValue pair");
  const int64_t mode = p.optional_int("retrieveMode").value_or(0);
  if (mode != 0 && mode != 1)
    p.fail("retrieveMode must be 0 (C-MOVE) or 1 (C-GET); 2 (WADO) is not supported");
  const auto node = s.archive->node_by_name(server);
  if (!node) return failure("-2", "unknown server '" + server + "'");
  return query_and_retrieve(s, *node, filters, mode == 1 ? "get" : "move", p, "-3");
}

xmlrpc_c::value cmove(Services& s, const xmlrpc_c::paramList& list, const CallContext&) {
  const Params p = Params::osirix(list);
  const auto accession = p.optional_text("accessionNumber");
  if (!accession) p.fail("missing parameter 'accessionNumber'");
  const std::string server = p.string("server");
  const auto node = s.archive->node_by_name(server);
  if (!node) return failure("-1", "unknown server '" + server + "'");
  return query_and_retrieve(s, *node, {{"AccessionNumber", *accession}}, "move", p, "-1");
}

xmlrpc_c::value download_url(Services& s, const xmlrpc_c::paramList& list, const CallContext& c) {
  const Params p = Params::osirix(list);
  const std::string url = p.string("URL");
  p.optional_bool("Display");  // type-checked; there is nothing to display on a server
  const DownloadResult result = download_and_ingest(url, *s.archive, s.max_download_bytes);
  if (!result.ok) {
    log::warning("xml-rpc DownloadURL from ", c.peer, ": ", url, ": ", result.message);
    return failure("-1", result.message);
  }
  log::info("xml-rpc DownloadURL from ", c.peer, ": ", url, ": ", result.message);
  return reply("0", {{"message", xmlrpc_c::value_string(result.message)}});
}

// Methods whose only effect in OsiriX is on its windows. A headless server has none: they succeed
// after checking their parameters, and report nothing displayed.
void add_headless(MethodRegistry& r, const std::string& name, std::vector<std::string> required,
                  Members extra, const std::string& help) {
  r.add(name, help,
        [required, extra](const xmlrpc_c::paramList& list, const CallContext&) -> xmlrpc_c::value {
          const Params p = Params::osirix(list);
          for (const auto& key : required) p.string(key);
          return reply("0", extra);
        });
}

}  // namespace

void add_osirix_methods(MethodRegistry& r, Services& s) {
  const auto bind =
      [&s](xmlrpc_c::value (*f)(Services&, const xmlrpc_c::paramList&, const CallContext&)) {
        return [&s, f](const xmlrpc_c::paramList& l, const CallContext& c) { return f(s, l, c); };
      };
  const std::string find_help =
      "{request: NSPredicate, table: Study|Series|Image, execute: Select|Open|Delete|Nothing} -> "
      "{error, elements}. Delete removes the study owning each match.";
  r.add("DBWindowFind", find_help, bind(db_window_find));
  r.add("FindObject", find_help, bind(db_window_find));
  r.add("DisplayStudy",
        "{PatientID | StudyInstanceUID | AccessionNumber | StudyID} -> {error, elements} (Study).",
        bind(display_study));
  r.add("DisplaySeries", "{PatientID | SeriesInstanceUID} -> {error, elements} (Series).",
        bind(display_series));
  r.add("Retrieve",
        "{serverName, filterKey, filterValue, ... filterKey9, filterValue9, retrieveMode 0 C-MOVE "
        "| 1 C-GET} -> {error: 0 queued, -2 unknown server, -3 no match}.",
        bind(retrieve));
  r.add("CMove", "{accessionNumber, server} -> {error}: C-FIND then C-MOVE to Ossa.", bind(cmove));
  r.add("DownloadURL", "{URL, Display} -> {error}: downloads one DICOM file and stores it.",
        bind(download_url));
  r.add("KillOsiriX", "{} -> nil: stops the server gracefully (as SIGTERM).",
        [&s](const xmlrpc_c::paramList& l, const CallContext& c) -> xmlrpc_c::value {
          Params::osirix(l);
          log::info("xml-rpc KillOsiriX from ", c.peer, ": shutting down");
          if (s.request_shutdown) s.request_shutdown();
          return xmlrpc_c::value_nil();
        });
  const std::string no_window = "Headless: there are no windows; answers success. ";
  add_headless(r, "SwitchToDefaultDBIfNeeded", {}, {}, no_window + "{} -> {error}");
  add_headless(r, "SelectDefaultDatabase", {}, {}, no_window + "{} -> {error}");
  add_headless(r, "OpenDB", {"path"}, {}, no_window + "{path} -> {error}; the archive stays.");
  add_headless(r, "OpenDatabase", {"path"}, {},
               no_window + "{path} -> {error}; the archive stays.");
  add_headless(r, "SelectAlbum", {"name"}, {}, no_window + "{name} -> {error}");
  add_headless(r, "CloseAllWindows", {}, {}, no_window + "{} -> {error}");
  const Members no_elements = {{"elements", xmlrpc_c::value_array(std::vector<xmlrpc_c::value>{})}};
  add_headless(r, "GetDisplayed2DViewerSeries", {}, no_elements,
               no_window + "{} -> {error, elements: []}");
  add_headless(r, "GetDisplayed2DViewerStudies", {}, no_elements,
               no_window + "{} -> {error, elements: []}");
  add_headless(r, "Close2DViewerWithSeriesUID", {"uid"}, {}, no_window + "{uid} -> {error}");
  add_headless(r, "Close2DViewerWithStudyUID", {"uid"}, {}, no_window + "{uid} -> {error}");
  add_headless(r, "DisplayStudyListByPatientName", {"PatientName"}, {},
               no_window + "{PatientName} -> {error}");
  add_headless(r, "DisplayStudyListByPatientId", {"PatientID"}, {},
               no_window + "{PatientID} -> {error}");
  add_headless(r, "PathToFrontDCM", {}, {{"currentDCMPath", xmlrpc_c::value_string("")}},
               no_window + "{onlyfilename} -> {error, currentDCMPath: \"\"}");
}

}  // namespace ossa::xmlrpc
