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
// Exit status: 0 when every run of every query ended with status Success, 1 when a query failed
// (its JSON carries "error"), 2 on a usage error, 3 when the association could not be opened.

#include "dcmtk/config/osconfig.h"  // always first

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "dcmtk/dcmdata/dcdeftag.h"
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
  unsigned long max_pdu = 65536;
  std::string queries_file;
  Query single;
};

void usage(FILE* out) {
  std::fprintf(
      out,
      "usage: ossa_query_latency --port PORT [--host HOST] [--aec CALLED] [--aet CALLING]\n"
      "                          [--repeat R] [--patient-root] [--max-pdu BYTES] [--times]\n"
      "                          ( [--name NAME] --key KEY=VALUE [--key ...] | --queries FILE )\n"
      "FILE: one query per line: name<TAB>key=value;key=value;...[<TAB>repeat]\n"
      "--times adds every run's time (\"times_ms\") to the JSON.\n");
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

// Runs one query `repeat` times; prints its JSON line. Returns false when a run failed; sets
// `fatal` when the association is no longer usable.
bool run_query(DcmSCU& scu, T_ASC_PresentationContextID pres, const Query& q, int repeat,
               bool print_times, bool& fatal) {
  DcmDataset identifier;
  std::string error;
  std::vector<double> times;
  long matches = -1;
  bool matches_varied = false;
  unsigned final_status = 0;
  if (build_identifier(q, identifier, error)) {
    for (int r = 0; r < repeat; ++r) {
      OFList<QRResponse*> responses;
      const auto t0 = std::chrono::steady_clock::now();
      const OFCondition c = scu.sendFINDRequest(pres, &identifier, &responses);
      const auto t1 = std::chrono::steady_clock::now();
      long n = 0;
      bool have_final = false;
      for (QRResponse* rsp : responses) {
        if (is_pending(rsp->m_status)) {
          if (rsp->m_dataset) ++n;
        } else {
          have_final = true;
          final_status = rsp->m_status;
        }
        delete rsp;
      }
      responses.clear();
      if (c.bad()) {
        error = std::string("C-FIND failed: ") + c.text();
        if (!scu.isConnected()) fatal = true;
        break;
      }
      if (!have_final || final_status != 0x0000) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "final status 0x%04x", have_final ? final_status : 0xFFFFu);
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
  OFList<OFString> ts;
  ts.push_back(UID_LittleEndianExplicitTransferSyntax);
  ts.push_back(UID_LittleEndianImplicitTransferSyntax);

  DcmSCU scu;
  scu.setAETitle(opt.calling.c_str());
  scu.setPeerAETitle(opt.called.c_str());
  scu.setPeerHostName(opt.host.c_str());
  scu.setPeerPort(static_cast<Uint16>(opt.port));
  scu.setMaxReceivePDULength(static_cast<Uint32>(opt.max_pdu));
  scu.setACSETimeout(30);
  scu.setDIMSETimeout(120);
  scu.setDIMSEBlockingMode(DIMSE_BLOCKING);
  OFCondition c = scu.addPresentationContext(model, ts);
  if (c.good()) c = scu.initNetwork();
  if (c.good()) c = scu.negotiateAssociation();
  if (c.bad()) {
    std::fprintf(stderr, "ossa_query_latency: cannot open an association to %s@%s:%d: %s\n",
                 opt.called.c_str(), opt.host.c_str(), opt.port, c.text());
    return 3;
  }
  const T_ASC_PresentationContextID pres = scu.findPresentationContextID(model, "");
  if (pres == 0) {
    std::fprintf(stderr, "ossa_query_latency: the peer accepted no %s FIND context\n",
                 opt.patient_root ? "Patient Root" : "Study Root");
    scu.releaseAssociation();
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
    if (!run_query(scu, pres, q, q.repeat > 0 ? q.repeat : opt.repeat, opt.print_times, fatal)) {
      all_ok = false;
    }
  }
  if (scu.isConnected()) scu.releaseAssociation();
  return all_ok ? 0 : 1;
}
