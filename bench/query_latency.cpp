// ossa_query_latency: C-FIND round-trip latency over ONE association.
//
// Opens a single association (Study Root and Patient Root FIND contexts) and runs each query
// R times; every run is a complete C-FIND (all pending responses and the final one received).
// Prints one JSON object per query on stdout:
//   {"name":"by-pid","matches":1,"median_ms":1.234,"p95_ms":2.345,...}
//
//   ossa_query_latency --port 11112 --name by-pid --key QueryRetrieveLevel=STUDY
//                      --key PatientID=P000123 --key StudyInstanceUID= [--repeat 50]
//   ossa_query_latency --port 11112 --queries FILE [--repeat 50]
//
// FILE: one query per line, "name<TAB>key=value;key=value;...[<TAB>repeat]" (the optional third
// column overrides --repeat for that line); blank lines and lines starting with '#' are skipped.
// Values are passed through as bytes: a file in Latin-1 with SpecificCharacterSet=ISO_IR 100
// among the keys sends a Latin-1 query. Keys are DCMTK dictionary names or (gggg,eeee) tags, as for
// findscu -k; "Key=" or "Key" alone asks for the attribute as a return key. Without a
// QueryRetrieveLevel key the level is STUDY.
//
// Two ways to receive the answers:
//   default  DCMTK's DcmSCU, which decodes every identifier into a dataset (what a DCMTK-based
//            viewer does). On a 2-core machine its decoding, ~30 us per answer, is a large part
//            of the time of queries with thousands of matches.
//   --lean   reads the responses PDV by PDV (DCMTK's DUL) and skips the identifiers' bytes without
//            decoding them; a command set is decoded only when it differs from the last pending
//            one (the same bytes for every pending response of a query). The time is then the
//            server's search, encoding and sending plus the transport, which is what the server's
//            latency targets are about. (Decoding each command with DIMSE_receiveCommand cost the
//            client ~14 us of CPU per answer, as much as the server spends, on the same 2 cores.)
//
// Exit status: 0 when every run of every query ended with status Success, 1 when a query failed
// (its JSON carries "error"), 2 on a usage error, 3 when the association could not be opened.

#include "dcmtk/config/osconfig.h"  // always first

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcpath.h"
#include "dcmtk/dcmdata/dctk.h"
#include "dcmtk/dcmnet/diutil.h"
#include "dcmtk/dcmnet/scu.h"
#include "dcmtk/oflog/oflog.h"

namespace {

struct Query {
  std::string name;
  std::vector<std::string> keys;
  int repeat = 0;  // 0: --repeat
};

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string calling = "OSSA_BENCH";
  std::string called = "OSSA";
  int repeat = 50;
  bool patient_root = false;
  bool print_times = false;
  bool lean = false;
  unsigned long max_pdu = 65536;
  std::string queries_file;
  Query single;
};

void usage(FILE* out) {
  std::fprintf(
      out,
      "usage: ossa_query_latency --port PORT [--host HOST] [--aec CALLED] [--aet CALLING]\n"
      "                          [--repeat R] [--patient-root] [--max-pdu BYTES] [--times]\n"
      "                          [--lean]\n"
      "                          ( [--name NAME] --key KEY=VALUE [--key ...] | --queries FILE )\n"
      "FILE: one query per line: name<TAB>key=value;key=value;...[<TAB>repeat]\n"
      "--times adds every run's time (\"times_ms\") to the JSON.\n"
      "--lean skips each answer's identifier instead of decoding it (the server's latency).\n");
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ossa_query_latency: %s needs a value\n", a.c_str());
        return false;
      }
      out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      usage(stdout);
      std::exit(0);
    } else if (a == "--host") {
      if (!value(o.host)) return false;
    } else if (a == "--port") {
      if (!value(v)) return false;
      o.port = std::atoi(v.c_str());
    } else if (a == "--aec") {
      if (!value(o.called)) return false;
    } else if (a == "--aet") {
      if (!value(o.calling)) return false;
    } else if (a == "--repeat") {
      if (!value(v)) return false;
      o.repeat = std::atoi(v.c_str());
    } else if (a == "--max-pdu") {
      if (!value(v)) return false;
      o.max_pdu = std::strtoul(v.c_str(), nullptr, 10);
    } else if (a == "--times") {
      o.print_times = true;
    } else if (a == "--lean") {
      o.lean = true;
    } else if (a == "--patient-root") {
      o.patient_root = true;
    } else if (a == "--name") {
      if (!value(o.single.name)) return false;
    } else if (a == "--key" || a == "-k") {
      if (!value(v)) return false;
      o.single.keys.push_back(v);
    } else if (a == "--queries") {
      if (!value(o.queries_file)) return false;
    } else {
      std::fprintf(stderr, "ossa_query_latency: unknown argument '%s'\n", a.c_str());
      return false;
    }
  }
  if (o.port <= 0 || o.port > 65535) {
    std::fprintf(stderr, "ossa_query_latency: --port is required (1..65535)\n");
    return false;
  }
  if (o.repeat < 1) {
    std::fprintf(stderr, "ossa_query_latency: --repeat must be >= 1\n");
    return false;
  }
  if (o.queries_file.empty() == o.single.keys.empty()) {
    std::fprintf(stderr, "ossa_query_latency: give either --key ... or --queries FILE\n");
    return false;
  }
  if (o.single.name.empty()) o.single.name = "query";
  return true;
}

bool read_queries(const std::string& path, std::vector<Query>& out) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "ossa_query_latency: cannot read %s\n", path.c_str());
    return false;
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    const auto tab = line.find('\t');
    if (tab == std::string::npos) {
      std::fprintf(stderr, "ossa_query_latency: %s:%d: expected name<TAB>keys\n", path.c_str(),
                   number);
      return false;
    }
    Query q;
    q.name = trim(line.substr(0, tab));
    std::string rest = line.substr(tab + 1);
    const auto tab2 = rest.find('\t');
    if (tab2 != std::string::npos) {
      q.repeat = std::atoi(trim(rest.substr(tab2 + 1)).c_str());
      rest = rest.substr(0, tab2);
      if (q.repeat < 1) {
        std::fprintf(stderr, "ossa_query_latency: %s:%d: bad repeat count\n", path.c_str(), number);
        return false;
      }
    }
    size_t start = 0;
    while (start <= rest.size()) {
      const auto semi = rest.find(';', start);
      const std::string key =
          trim(rest.substr(start, semi == std::string::npos ? std::string::npos : semi - start));
      if (!key.empty()) q.keys.push_back(key);
      if (semi == std::string::npos) break;
      start = semi + 1;
    }
    if (q.keys.empty()) {
      std::fprintf(stderr, "ossa_query_latency: %s:%d: no keys\n", path.c_str(), number);
      return false;
    }
    out.push_back(q);
  }
  if (out.empty()) {
    std::fprintf(stderr, "ossa_query_latency: %s holds no queries\n", path.c_str());
    return false;
  }
  return true;
}

bool build_identifier(const Query& q, DcmDataset& ds, std::string& error) {
  DcmPathProcessor proc;
  proc.setItemWildcardSupport(OFFalse);
  proc.checkPrivateReservations(OFFalse);
  for (const auto& key : q.keys) {
    const OFCondition c = proc.applyPathWithValue(&ds, key.c_str());
    if (c.bad()) {
      error = "bad key '" + key + "': " + c.text();
      return false;
    }
  }
  if (!ds.tagExists(DCM_QueryRetrieveLevel)) ds.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  return true;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size()) + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > sorted.size()) rank = sorted.size();
  return sorted[rank - 1];
}

double median(const std::vector<double>& sorted) {
  if (sorted.empty()) return 0.0;
  const size_t n = sorted.size();
  return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
}

bool is_pending(Uint16 status) {
  return status == 0xFF00 || status == 0xFF01;
}

// What one complete C-FIND brought back.
struct FindOutcome {
  long matches = 0;  // pending responses with an identifier
  bool have_final = false;
  Uint16 final_status = 0;
};

// One association to the server that runs complete C-FINDs.
class Finder {
 public:
  virtual ~Finder() = default;
  virtual OFCondition open(const Options& o, const char* model) = 0;
  virtual OFCondition find(DcmDataset& identifier, FindOutcome& out) = 0;
  virtual bool connected() const = 0;
  virtual void release() = 0;
};

// DCMTK's DcmSCU: every answer decoded into a dataset, as a DCMTK-based viewer receives it.
class ScuFinder : public Finder {
 public:
  OFCondition open(const Options& o, const char* model) override {
    OFList<OFString> ts;
    ts.push_back(UID_LittleEndianExplicitTransferSyntax);
    ts.push_back(UID_LittleEndianImplicitTransferSyntax);
    scu_.setAETitle(o.calling.c_str());
    scu_.setPeerAETitle(o.called.c_str());
    scu_.setPeerHostName(o.host.c_str());
    scu_.setPeerPort(static_cast<Uint16>(o.port));
    scu_.setMaxReceivePDULength(static_cast<Uint32>(o.max_pdu));
    scu_.setACSETimeout(30);
    scu_.setDIMSETimeout(120);
    scu_.setDIMSEBlockingMode(DIMSE_BLOCKING);
    OFCondition c = scu_.addPresentationContext(model, ts);
    if (c.good()) c = scu_.initNetwork();
    if (c.good()) c = scu_.negotiateAssociation();
    if (c.bad()) return c;
    pres_ = scu_.findPresentationContextID(model, "");
    return pres_ == 0 ? makeOFCondition(0, 1, OF_error, "no FIND context accepted") : EC_Normal;
  }

  OFCondition find(DcmDataset& identifier, FindOutcome& out) override {
    OFList<QRResponse*> responses;
    const OFCondition c = scu_.sendFINDRequest(pres_, &identifier, &responses);
    for (QRResponse* rsp : responses) {
      if (is_pending(rsp->m_status)) {
        if (rsp->m_dataset) ++out.matches;
      } else {
        out.have_final = true;
        out.final_status = rsp->m_status;
      }
      delete rsp;
    }
    return c;
  }

  bool connected() const override { return scu_.isConnected(); }
  void release() override {
    if (scu_.isConnected()) scu_.releaseAssociation();
  }

 private:
  DcmSCU scu_;
  T_ASC_PresentationContextID pres_ = 0;
};

// DCMTK's association API; each response's command is decoded, its identifier skipped.
class LeanFinder : public Finder {
 public:
  ~LeanFinder() override { release(); }

  OFCondition open(const Options& o, const char* model) override {
    model_ = model;
    OFCondition c = ASC_initializeNetwork(NET_REQUESTOR, 0, 30, &net_);
    T_ASC_Parameters* params = nullptr;
    if (c.good()) c = ASC_createAssociationParameters(&params, static_cast<long>(o.max_pdu));
    if (c.bad()) return c;
    ASC_setAPTitles(params, o.calling.c_str(), o.called.c_str(), nullptr);
    const std::string address = o.host + ":" + std::to_string(o.port);
    ASC_setPresentationAddresses(params, "localhost", address.c_str());
    const char* syntaxes[] = {UID_LittleEndianExplicitTransferSyntax,
                              UID_LittleEndianImplicitTransferSyntax};
    c = ASC_addPresentationContext(params, 1, model, syntaxes, 2);
    if (c.good()) c = ASC_requestAssociation(net_, params, &assoc_);
    if (c.bad()) {
      if (!assoc_) ASC_destroyAssociationParameters(&params);
      return c;
    }
    pres_ = ASC_findAcceptedPresentationContextID(assoc_, model);
    return pres_ == 0 ? makeOFCondition(0, 1, OF_error, "no FIND context accepted") : EC_Normal;
  }

  OFCondition find(DcmDataset& identifier, FindOutcome& out) override {
    T_DIMSE_Message request{};
    request.CommandField = DIMSE_C_FIND_RQ;
    T_DIMSE_C_FindRQ& rq = request.msg.CFindRQ;
    rq.MessageID = assoc_->nextMsgID++;
    OFStandard::strlcpy(rq.AffectedSOPClassUID, model_, sizeof rq.AffectedSOPClassUID);
    rq.DataSetType = DIMSE_DATASET_PRESENT;
    rq.Priority = DIMSE_PRIORITY_MEDIUM;
    OFCondition c = DIMSE_sendMessageUsingMemoryData(assoc_, pres_, &request, nullptr, &identifier,
                                                     nullptr, nullptr);
    // The responses are read PDV by PDV from DCMTK's upper layer (DUL). A command set is decoded
    // (DCMTK) only when its bytes differ from the last pending one: a server sends the same
    // command set for every pending response of a query, so a long answer costs the client
    // one comparison per match instead of a decoded command.
    std::string command;
    std::string pending_command;  // bytes of the last command decoded as pending
    bool in_pending = false;
    while (c.good()) {
      DUL_PDV pdv{};
      c = next_pdv(pdv);
      if (c.bad()) break;
      const char* bytes = static_cast<const char*>(pdv.data);
      if (pdv.pdvType == DUL_COMMANDPDV) {
        command.append(bytes, pdv.fragmentLength);
        if (!pdv.lastPDV) continue;
        if (!pending_command.empty() && command == pending_command) {
          in_pending = true;
        } else {
          Uint16 status = 0;
          Uint16 data_set_type = DIMSE_DATASET_NULL;
          c = decode_command(command, status, data_set_type);
          if (c.bad()) break;
          in_pending = is_pending(status);
          if (in_pending) {
            pending_command = command;
          } else {
            out.have_final = true;
            out.final_status = status;
            if (data_set_type == DIMSE_DATASET_NULL) break;  // else its data set ends the loop
          }
        }
        command.clear();
      } else if (pdv.lastPDV) {  // the end of a data set
        if (in_pending) {
          ++out.matches;
        } else if (out.have_final) {
          break;
        }
      }
    }
    return c;
  }

  bool connected() const override { return assoc_ != nullptr; }
  void release() override {
    if (assoc_) {
      ASC_releaseAssociation(assoc_);
      ASC_destroyAssociation(&assoc_);
    }
    if (net_) ASC_dropNetwork(&net_);
  }

 private:
  // The next PDV received on the association, reading a new PDU when none is waiting (what
  // DIMSE does internally).
  OFCondition next_pdv(DUL_PDV& pdv) {
    if (DUL_NextPDV(&assoc_->DULassociation, &pdv).good()) return EC_Normal;
    const OFCondition c = DUL_ReadPDVs(&assoc_->DULassociation, nullptr, DUL_BLOCK, 0);
    if (c != DUL_PDATAPDUARRIVED) return c.bad() ? c : makeOFCondition(0, 3, OF_error, "no PDU");
    return DUL_NextPDV(&assoc_->DULassociation, &pdv);
  }

  // Status and CommandDataSetType of a command set (always implicit VR little endian).
  static OFCondition decode_command(const std::string& bytes, Uint16& status,
                                    Uint16& data_set_type) {
    DcmInputBufferStream stream;
    stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
    stream.setEos();
    DcmDataset command;
    command.transferInit();
    OFCondition c = command.read(stream, EXS_LittleEndianImplicit);
    command.transferEnd();
    if (c.good()) c = command.findAndGetUint16(DCM_Status, status);
    if (c.good()) c = command.findAndGetUint16(DCM_CommandDataSetType, data_set_type);
    return c;
  }

  const char* model_ = nullptr;
  T_ASC_Network* net_ = nullptr;
  T_ASC_Association* assoc_ = nullptr;
  T_ASC_PresentationContextID pres_ = 0;
};

// Runs one query `repeat` times; prints its JSON line. Returns false when a run failed; sets
// `fatal` when the association is no longer usable.
bool run_query(Finder& finder, const Query& q, int repeat, bool print_times, bool& fatal) {
  DcmDataset identifier;
  std::string error;
  std::vector<double> times;
  long matches = -1;
  bool matches_varied = false;
  if (build_identifier(q, identifier, error)) {
    for (int r = 0; r < repeat; ++r) {
      FindOutcome outcome;
      const auto t0 = std::chrono::steady_clock::now();
      const OFCondition c = finder.find(identifier, outcome);
      const auto t1 = std::chrono::steady_clock::now();
      const long n = outcome.matches;
      if (c.bad()) {
        error = std::string("C-FIND failed: ") + c.text();
        if (!finder.connected()) fatal = true;
        break;
      }
      if (!outcome.have_final || outcome.final_status != 0x0000) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "final status 0x%04x",
                      outcome.have_final ? outcome.final_status : 0xFFFFu);
        error = buf;
        break;
      }
      if (matches >= 0 && n != matches) matches_varied = true;
      matches = n;
      times.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  double sum = 0;
  for (double t : times) sum += t;
  std::printf(
      "{\"name\":\"%s\",\"matches\":%ld,\"median_ms\":%.3f,\"p95_ms\":%.3f,"
      "\"min_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f,\"first_ms\":%.3f,\"runs\":%zu",
      json_escape(q.name).c_str(), matches < 0 ? 0 : matches, median(sorted),
      percentile(sorted, 95.0), sorted.empty() ? 0.0 : sorted.front(),
      sorted.empty() ? 0.0 : sorted.back(), times.empty() ? 0.0 : sum / times.size(),
      times.empty() ? 0.0 : times.front(), times.size());
  if (matches_varied) std::printf(",\"matches_varied\":true");
  if (print_times) {
    std::printf(",\"times_ms\":[");
    for (size_t i = 0; i < times.size(); ++i) std::printf("%s%.3f", i ? "," : "", times[i]);
    std::printf("]");
  }
  if (!error.empty()) std::printf(",\"error\":\"%s\"", json_escape(error).c_str());
  std::printf("}\n");
  std::fflush(stdout);
  return error.empty();
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse_args(argc, argv, opt)) {
    usage(stderr);
    return 2;
  }
  std::vector<Query> queries;
  if (!opt.queries_file.empty()) {
    if (!read_queries(opt.queries_file, queries)) return 2;
  } else {
    queries.push_back(opt.single);
  }

  // DCMTK as built by Debian leaves Nagle on unless this is set before the network is initialised
  // (otherwise every response waits ~40 ms for the delayed ACK).
  setenv("TCP_NODELAY", "1", 1);
  OFLog::configure(OFLogger::WARN_LOG_LEVEL);

  const char* model = opt.patient_root ? UID_FINDPatientRootQueryRetrieveInformationModel
                                       : UID_FINDStudyRootQueryRetrieveInformationModel;
  std::unique_ptr<Finder> finder;
  if (opt.lean) {
    finder = std::make_unique<LeanFinder>();
  } else {
    finder = std::make_unique<ScuFinder>();
  }
  const OFCondition c = finder->open(opt, model);
  if (c.bad()) {
    std::fprintf(stderr, "ossa_query_latency: cannot open an association to %s@%s:%d: %s\n",
                 opt.called.c_str(), opt.host.c_str(), opt.port, c.text());
    return 3;
  }

  bool all_ok = true;
  bool fatal = false;
  for (const auto& q : queries) {
    if (fatal) {
      std::printf(
          "{\"name\":\"%s\",\"matches\":0,\"median_ms\":0,\"p95_ms\":0,\"runs\":0,"
          "\"error\":\"association lost\"}\n",
          json_escape(q.name).c_str());
      all_ok = false;
      continue;
    }
    if (!run_query(*finder, q, q.repeat > 0 ? q.repeat : opt.repeat, opt.print_times, fatal)) {
      all_ok = false;
    }
  }
  finder->release();
  return all_ok ? 0 : 1;
}
