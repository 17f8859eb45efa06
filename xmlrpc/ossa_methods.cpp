// Ossa's own methods (ossa.*): ordinary XML-RPC types in and out, and real faults for bad calls.
// Each takes one struct of named members, or the same members positionally in the order listed
// in its help text.

#include <sys/stat.h>

#include <filesystem>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dicom/query_translation.h"
#include "ossa/version.h"
#include "plugins/plugin_host.h"
#include "util/log.h"
#include "xmlrpc/dicom_keys.h"
#include "xmlrpc/method_registry.h"
#include "xmlrpc/params.h"
#include "xmlrpc/services.h"

namespace ossa::xmlrpc {
namespace {

using Members = std::map<std::string, xmlrpc_c::value>;
constexpr int64_t kDefaultFindLimit = 1000;
constexpr int64_t kMaxFindLimit = 100000;

xmlrpc_c::value str(const std::string& s) {
  return xmlrpc_c::value_string(s);
}
xmlrpc_c::value i8(int64_t v) {
  return xmlrpc_c::value_i8(v);
}
xmlrpc_c::value boolean(bool v) {
  return xmlrpc_c::value_boolean(v);
}

std::string level_text(const Params& p, const std::string& name) {
  std::string level = p.string(name);
  for (auto& c : level) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (level == "INSTANCE") level = "IMAGE";
  if (level != "PATIENT" && level != "STUDY" && level != "SERIES" && level != "IMAGE")
    p.fail(name + " must be PATIENT, STUDY, SERIES or IMAGE, not '" + p.string(name) + "'");
  return level;
}

index::Level to_level(const std::string& text) {
  if (text == "PATIENT") return index::Level::kPatient;
  if (text == "STUDY") return index::Level::kStudy;
  if (text == "SERIES") return index::Level::kSeries;
  return index::Level::kInstance;
}

archive::Node node_named(Services& s, const Params& p, const std::string& name) {
  const std::string wanted = p.string(name);
  auto node = s.archive->node_by_name(wanted);
  if (!node) throw CallError(kFaultNotFound, "unknown node '" + wanted + "'");
  return *node;
}

xmlrpc_c::value node_value(const archive::Node& n) {
  return xmlrpc_c::value_struct(Members{{"name", str(n.name)},
                                        {"aet", str(n.aet)},
                                        {"host", str(n.host)},
                                        {"port", xmlrpc_c::value_int(n.port)},
                                        {"move_destination", boolean(n.move_destination)},
                                        {"query", boolean(n.query)},
                                        {"retrieve", boolean(n.retrieve)},
                                        {"send", boolean(n.send)}});
}

xmlrpc_c::value job_value(const index::Job& j) {
  std::vector<xmlrpc_c::value> uids;
  size_t start = 0;
  while (start <= j.uids.size() && !j.uids.empty()) {
    const size_t end = j.uids.find('\\', start);
    uids.push_back(str(j.uids.substr(start, end == std::string::npos ? end : end - start)));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return xmlrpc_c::value_struct(Members{{"id", i8(j.id)},
                                        {"kind", str(j.kind)},
                                        {"node", str(j.node)},
                                        {"level", str(j.level)},
                                        {"uids", xmlrpc_c::value_array(uids)},
                                        {"method", str(j.method)},
                                        {"state", str(j.state)},
                                        {"total", i8(j.total)},
                                        {"completed", i8(j.completed)},
                                        {"failed", i8(j.failed)},
                                        {"attempts", i8(j.attempts)},
                                        {"error", str(j.error)},
                                        {"created_at", str(j.created_at)},
                                        {"updated_at", str(j.updated_at)}});
}

std::string join_uids(const Params& p, const std::string& name) {
  std::string out;
  for (const auto& uid : p.string_list(name)) {
    if (uid.empty() || uid.find('\\') != std::string::npos)
      p.fail(name + " holds an empty value or a backslash");
    out += (out.empty() ? "" : "\\") + uid;
  }
  return out;
}

xmlrpc_c::value status(Services& s, const xmlrpc_c::paramList& l, const CallContext&) {
  Params::named(l, {});
  const index::Counts c = s.archive->index().counts();
  const auto uptime =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - s.started)
          .count();
  return xmlrpc_c::value_struct(Members{
      {"version", str(OSSA_VERSION_STRING)},
      {"aet", str(s.archive->own_aet())},
      {"dicom_port", xmlrpc_c::value_int(s.dicom_port)},
      {"uptime_seconds", i8(uptime)},
      {"patients", i8(c.patients)},
      {"studies", i8(c.studies)},
      {"series", i8(c.series)},
      {"instances", i8(c.instances)},
      {"disk_free_bytes", i8(static_cast<int64_t>(s.archive->store().free_bytes()))},
      {"associations", xmlrpc_c::value_int(s.active_associations ? s.active_associations() : 0)},
      {"index_ok", boolean(s.archive->index().ping())},
  });
}

xmlrpc_c::value echo(Services& s, const xmlrpc_c::paramList& l, const CallContext&) {
  const Params p = Params::named(l, {"node"});
  const archive::Node node = node_named(s, p, "node");
  std::string why;
  if (!dicom::echo(node, s.scu, why))
    throw CallError(kFaultFailed, "C-ECHO to " + node.name + " failed: " + why);
  return boolean(true);
}

xmlrpc_c::value nodes_list(Services& s, const xmlrpc_c::paramList& l, const CallContext&) {
  Params::named(l, {});
  std::vector<xmlrpc_c::value> out;
  for (const auto& n : s.archive->nodes()) out.push_back(node_value(n));
  return xmlrpc_c::value_array(out);
}

xmlrpc_c::value nodes_add(Services& s, const xmlrpc_c::paramList& l, const CallContext& c) {
  const Params p = Params::named(
      l, {"name", "aet", "host", "port", "move_destination", "query", "retrieve", "send"});
  archive::Node n;
  n.aet = p.string("aet");
  n.name = p.optional_string("name").value_or(n.aet);
  n.host = p.string("host");
  const int64_t port = p.integer("port");
  if (port < 1 || port > 65535) p.fail("port must be 1 to 65535");
  n.port = static_cast<uint16_t>(port);
  n.move_destination = p.optional_bool("move_destination").value_or(true);
  n.query = p.optional_bool("query").value_or(false);
  n.retrieve = p.optional_bool("retrieve").value_or(false);
  n.send = p.optional_bool("send").value_or(false);
  try {
    s.archive->add_node(n);
  } catch (const std::invalid_argument& e) {
    p.fail(e.what());
  }
  log::info("xml-rpc from ", c.peer, ": node ", n.name, " (", n.aet, "@", n.host, ":", n.port,
            ") added");
  return node_value(n);
}

xmlrpc_c::value nodes_remove(Services& s, const xmlrpc_c::paramList& l, const CallContext& c) {
  const Params p = Params::named(l, {"name"});
  const std::string name = p.string("name");
  const bool removed = s.archive->remove_node(name);
  if (removed) log::info("xml-rpc from ", c.peer, ": node ", name, " removed");
  return boolean(removed);
}

xmlrpc_c::value find(Services& s, const xmlrpc_c::paramList& l, const CallContext&) {
  const Params p = Params::named(l, {"level", "keys", "node", "patient_root", "limit"});
  const std::string level = level_text(p, "level");
  const bool patient_root = p.optional_bool("patient_root").value_or(level == "PATIENT");
  const int64_t limit = p.optional_int("limit").value_or(kDefaultFindLimit);
  if (limit < 1 || limit > kMaxFindLimit)
    p.fail("limit must be 1 to " + std::to_string(kMaxFindLimit));
  DcmDataset identifier;
  identifier.putAndInsertString(DCM_QueryRetrieveLevel, level.c_str());
  if (auto keys = p.optional_value("keys")) {
    if (keys->type() != xmlrpc_c::value::TYPE_STRUCT)
      p.fail("keys must be a struct {Keyword: value}, not " + std::string(type_name(*keys)));
    for (const auto& [key, value] : xmlrpc_c::value_struct(*keys).cvalue()) {
      if (value.type() != xmlrpc_c::value::TYPE_STRING)
        p.fail("keys." + key + " must be a string (\"\" asks for the attribute)");
      const std::string error = put_key(identifier, key, xmlrpc_c::value_string(value).cvalue());
      if (!error.empty()) p.fail("keys: " + error);
    }
  }
  const DcmTagKey unique = level == "PATIENT"  ? DCM_PatientID
                           : level == "STUDY"  ? DCM_StudyInstanceUID
                           : level == "SERIES" ? DCM_SeriesInstanceUID
                                               : DCM_SOPInstanceUID;
  if (!identifier.tagExists(unique)) identifier.insertEmptyElement(unique);
  std::vector<xmlrpc_c::value> out;
  if (p.has("node")) {
    const archive::Node node = node_named(s, p, "node");
    if (!node.query)
      throw CallError(kFaultFailed, "node " + node.name + " may not be queried (query: false)");
    std::string why;
    const bool ok = dicom::find(
        node, s.scu, patient_root, identifier,
        [&](DcmDataset& answer) {
          out.push_back(dataset_to_struct(answer));
          return static_cast<int64_t>(out.size()) < limit;
        },
        why);
    if (!ok) throw CallError(kFaultFailed, "C-FIND on " + node.name + " failed: " + why);
    return xmlrpc_c::value_array(out);
  }
  dicom::TranslatedFind translated = dicom::translate_find(
      identifier, patient_root ? dicom::QueryModel::kPatientRoot : dicom::QueryModel::kStudyRoot);
  if (translated.error_status != 0) p.fail(translated.error);
  dicom::FindResponseBuilder answers(translated, s.archive->own_aet());
  s.archive->find(translated.query, [&](index::FindMatch&& match) {
    out.push_back(dataset_to_struct(answers.build(match)));
    return static_cast<int64_t>(out.size()) < limit;
  });
  return xmlrpc_c::value_array(out);
}

xmlrpc_c::value send(Services& s, const xmlrpc_c::paramList& l, const CallContext& c) {
  const Params p = Params::named(l, {"node", "level", "uids"});
  const archive::Node node = node_named(s, p, "node");
  if (!node.send) throw CallError(kFaultFailed, "node " + node.name + " does not allow send");
  index::Job job;
  job.kind = "send";
  job.node = node.name;
  job.level = level_text(p, "level");
  job.uids = join_uids(p, "uids");
  const int64_t id = s.archive->queue_job(job);
  log::info("xml-rpc from ", c.peer, ": send job ", id, " to ", node.name, " queued");
  return i8(id);
}

xmlrpc_c::value retrieve(Services& s, const xmlrpc_c::paramList& l, const CallContext& c) {
  const Params p = Params::named(l, {"node", "level", "uids", "method"});
  const archive::Node node = node_named(s, p, "node");
  if (!node.retrieve)
    throw CallError(kFaultFailed, "node " + node.name + " does not allow retrieve");
  index::Job job;
  job.kind = "retrieve";
  job.node = node.name;
  job.level = level_text(p, "level");
  job.uids = join_uids(p, "uids");
  job.method = lower(p.optional_string("method").value_or("move"));
  if (job.method != "move" && job.method != "get") p.fail("method must be 'move' or 'get'");
  const int64_t id = s.archive->queue_job(job);
  log::info("xml-rpc from ", c.peer, ": retrieve job ", id, " from ", node.name, " queued");
  return i8(id);
}

xmlrpc_c::value jobs_list(Services& s, const xmlrpc_c::paramList& l, const CallContext&) {
  const Params p = Params::named(l, {"limit"});
  const int64_t limit = p.optional_int("limit").value_or(100);
  if (limit < 1 || limit > 10000) p.fail("limit must be 1 to 10000");
  std::vector<xmlrpc_c::value> out;
  for (const auto& j : s.archive->jobs(static_cast<size_t>(limit))) out.push_back(job_value(j));
  return xmlrpc_c::value_array(out);
}

xmlrpc_c::value jobs_get(Services& s, const xmlrpc_c::paramList& l, const CallContext&) {
  const Params p = Params::named(l, {"id"});
  const int64_t id = p.integer("id");
  const auto job = s.archive->job(id);
  if (!job) throw CallError(kFaultNotFound, "no job " + std::to_string(id));
  return job_value(*job);
}

xmlrpc_c::value jobs_cancel(Services& s, const xmlrpc_c::paramList& l, const CallContext&) {
  const Params p = Params::named(l, {"id"});
  return boolean(s.archive->cancel_job(p.integer("id")));
}

xmlrpc_c::value import(Services& s, const xmlrpc_c::paramList& l, const CallContext& c) {
  const Params p = Params::named(l, {"path"});
  const std::filesystem::path root = p.string("path");
  if (!root.is_absolute()) p.fail("path must be absolute (a file or folder on the server)");
  std::error_code ec;
  const auto root_status = std::filesystem::status(root, ec);
  if (ec || !std::filesystem::exists(root_status))
    throw CallError(kFaultNotFound, "no such file or folder: " + root.string());
  int64_t stored = 0, replaced = 0, kept = 0;
  std::vector<xmlrpc_c::value> rejected;
  const auto one = [&](const std::filesystem::path& file) {
    const archive::IngestResult r = s.archive->ingest_copy(file);
    switch (r.kind) {
      case archive::IngestResult::Kind::kStored:
        ++stored;
        break;
      case archive::IngestResult::Kind::kReplaced:
        ++replaced;
        break;
      case archive::IngestResult::Kind::kDuplicateKept:
        ++kept;
        break;
      case archive::IngestResult::Kind::kRejected:
        if (rejected.size() < 100)
          rejected.push_back(xmlrpc_c::value_struct(
              Members{{"path", str(file.string())}, {"reason", str(r.message)}}));
        break;
    }
  };
  if (std::filesystem::is_directory(root_status)) {
    auto it = std::filesystem::recursive_directory_iterator(
        root, std::filesystem::directory_options::skip_permission_denied, ec);
    for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec)) one(it->path());
    }
  } else if (std::filesystem::is_regular_file(root_status)) {
    one(root);
  } else {
    p.fail(root.string() + " is neither a file nor a folder");
  }
  log::info("xml-rpc ossa.import from ", c.peer, ": ", root.string(), ": ", stored, " stored, ",
            replaced, " replaced, ", rejected.size(), " rejected");
  return xmlrpc_c::value_struct(Members{{"stored", i8(stored)},
                                        {"replaced", i8(replaced)},
                                        {"duplicates_kept", i8(kept)},
                                        {"rejected", xmlrpc_c::value_array(rejected)}});
}

xmlrpc_c::value remove(Services& s, const xmlrpc_c::paramList& l, const CallContext& c) {
  const Params p = Params::named(l, {"level", "uid"});
  const std::string level = level_text(p, "level");
  const std::string uid = p.string("uid");
  if (uid.empty()) p.fail("uid must not be empty");
  const size_t n = s.archive->delete_entity(to_level(level), uid);
  log::info("xml-rpc ossa.delete from ", c.peer, ": ", level, " ", uid, ": ", n, " instance(s)");
  return i8(static_cast<int64_t>(n));
}

xmlrpc_c::value plugins_list(Services& s, const xmlrpc_c::paramList& l, const CallContext&) {
  Params::named(l, {});
  std::vector<xmlrpc_c::value> out;
  if (!s.plugins) return xmlrpc_c::value_array(out);
  for (const auto& plugin : s.plugins->loaded_plugins()) {
    std::vector<xmlrpc_c::value> own;
    for (const auto& m : plugin.methods) own.push_back(str(m));
    out.push_back(xmlrpc_c::value_struct(Members{{"name", str(plugin.name)},
                                                 {"version", str(plugin.version)},
                                                 {"description", str(plugin.description)},
                                                 {"path", str(plugin.path.string())},
                                                 {"methods", xmlrpc_c::value_array(own)}}));
  }
  return xmlrpc_c::value_array(out);
}

}  // namespace

void add_ossa_methods(MethodRegistry& r, Services& s) {
  using Fn = xmlrpc_c::value (*)(Services&, const xmlrpc_c::paramList&, const CallContext&);
  const auto add = [&](const char* name, const char* help, Fn f) {
    r.add(name, help,
          [&s, f](const xmlrpc_c::paramList& l, const CallContext& c) { return f(s, l, c); });
  };
  add("ossa.status",
      "ossa.status() -> {version, aet, dicom_port, uptime_seconds, patients, studies, series, "
      "instances, disk_free_bytes, associations, index_ok}",
      status);
  add("ossa.echo", "ossa.echo(node) -> true, or a fault saying why C-ECHO failed", echo);
  add("ossa.nodes.list",
      "ossa.nodes.list() -> [{name, aet, host, port, move_destination, "
      "query, retrieve, send}]",
      nodes_list);
  add("ossa.nodes.add",
      "ossa.nodes.add({name, aet, host, port, move_destination, query, "
      "retrieve, send}) -> the node (kept in the index)",
      nodes_add);
  add("ossa.nodes.remove", "ossa.nodes.remove(name) -> true when a run-time node was removed",
      nodes_remove);
  add("ossa.find",
      "ossa.find({level, keys: {Keyword: value}, node, patient_root, limit}) -> [{Keyword: "
      "value}]: C-FIND matching, in the archive or (with node) on a remote node",
      find);
  add("ossa.send", "ossa.send({node, level, uids}) -> job id (a durable send job)", send);
  add("ossa.retrieve",
      "ossa.retrieve({node, level, uids, method: move|get}) -> job id (a durable retrieve job)",
      retrieve);
  add("ossa.jobs.list", "ossa.jobs.list(limit) -> [job], newest first", jobs_list);
  add("ossa.jobs.get",
      "ossa.jobs.get(id) -> job {id, kind, node, level, uids, method, state, "
      "total, completed, failed, attempts, error, created_at, updated_at}",
      jobs_get);
  add("ossa.jobs.cancel",
      "ossa.jobs.cancel(id) -> true when a pending or running job was "
      "cancelled",
      jobs_cancel);
  add("ossa.import",
      "ossa.import(path) -> {stored, replaced, duplicates_kept, rejected: [{path, "
      "reason}]}: stores a file or every file under a folder on the server",
      import);
  add("ossa.delete", "ossa.delete({level, uid}) -> instances deleted (PATIENT takes a Patient ID)",
      remove);
  add("ossa.plugins.list", "ossa.plugins.list() -> [{name, version, description, path, methods}]",
      plugins_list);
}

}  // namespace ossa::xmlrpc
