// `ossa echo` and `ossa query`: C-ECHO and C-FIND on declared remote nodes, from the command line.
// They need only the configuration (nodes, Ossa's AE title, timeouts): no running server, and they
// never open the archive, so they work while the server runs or when the storage is unavailable.

#include <cctype>
#include <filesystem>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/runtime.h"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcelem.h"
#include "dcmtk/dcmdata/dcsequen.h"
#include "dcmtk/dcmdata/dctag.h"
#include "dicom/charset.h"
#include "dicom/scu.h"
#include "dicom/tag_keys.h"
#include "index/open_index.h"

namespace ossa::app {
namespace {

constexpr const char* kEchoUsage = "usage: ossa echo [--config FILE] NODE\n";
constexpr const char* kQueryUsage =
    "usage: ossa query [--config FILE] NODE [--level PATIENT|STUDY|SERIES|IMAGE] [--patient-root]\n"
    "                  -k KEY[=VALUE]...\n"
    "  KEY is a DICOM keyword (PatientName) or a tag (0010,0010); without a value it is a return\n"
    "  key. Prints each answer as one JSON object per line (keyword -> value, UTF-8).\n";

// The declared node named `wanted` (its name, else its AE title); prints why and returns nullopt
// when there is none.
std::optional<archive::Node> find_node(const char* command, const config::Config& cfg,
                                       const std::string& wanted) {
  std::vector<archive::Node> nodes = archive_options(cfg).nodes;
  // Nodes added at run time live in the index; read them without opening the archive.
  std::error_code ec;
  if (std::filesystem::exists(cfg.index.path, ec)) {
    try {
      const std::unique_ptr<index::Index> idx = index::open_index(index_options(cfg));
      for (const auto& r : idx->nodes()) {
        nodes.push_back({r.name, r.aet, r.host, static_cast<uint16_t>(r.port), r.move_destination,
                         r.query, r.retrieve, r.send});
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ossa %s: cannot read run-time nodes from %s: %s\n", command,
                   cfg.index.path.c_str(), e.what());
    }
  }
  for (const auto& n : nodes)
    if (n.name == wanted) return n;
  for (const auto& n : nodes)
    if (n.aet == wanted) return n;
  std::string known;
  for (const auto& n : nodes) known += (known.empty() ? "" : ", ") + n.name;
  if (known.empty()) {
    std::fprintf(stderr, "ossa %s: unknown node '%s': %s declares no nodes (nodes: section)\n",
                 command, wanted.c_str(), cfg.source.string().c_str());
  } else {
    std::fprintf(stderr, "ossa %s: unknown node '%s'; known nodes: %s\n", command, wanted.c_str(),
                 known.c_str());
  }
  return std::nullopt;
}

dicom::ScuOptions scu_options(const config::Config& cfg) {
  dicom::ScuOptions o;
  o.own_aet = cfg.server.aet;
  o.max_pdu = cfg.server.max_pdu;
  o.acse_timeout = cfg.server.acse_timeout_seconds;
  o.dimse_timeout = cfg.server.dimse_timeout_seconds;
  return o;
}

std::string describe(const archive::Node& node) {
  return node.name + " (" + node.aet + "@" + node.host + ":" + std::to_string(node.port) + ")";
}

// ------------------------------------------------------------------------------------------------
// Query keys

bool charset_dependent(DcmEVR vr) {
  return vr == EVR_SH || vr == EVR_LO || vr == EVR_ST || vr == EVR_LT || vr == EVR_UT ||
         vr == EVR_PN || vr == EVR_UC;
}

std::string json_key(DcmTag tag) {
  const char* name = tag.getTagName();
  if (name && std::strcmp(name, DcmTag_ERROR_TagName) != 0 && tag.getElement() != 0) return name;
  return tag.getXTag().toString().c_str();  // "(gggg,eeee)"
}

// One answer as {keyword: value}. `decoder` is set only when DCMTK could not convert the answer to
// UTF-8 itself (ISO 2022 IR 87 and friends): text values are then decoded here.
nlohmann::json to_json(DcmItem& item, const dicom::CharsetDecoder* decoder) {
  nlohmann::json out = nlohmann::json::object();
  for (unsigned long i = 0; i < item.card(); ++i) {
    DcmElement* element = item.getElement(i);
    if (!element) continue;
    DcmTag tag = element->getTag();
    if (tag.getXTag() == DCM_SpecificCharacterSet) continue;  // everything printed is UTF-8
    if (tag.getGroup() == 0x0000 || tag.getGroup() == 0x0002) continue;
    const std::string key = json_key(tag);
    if (element->ident() == EVR_SQ) {
      auto* sequence = static_cast<DcmSequenceOfItems*>(element);
      nlohmann::json items = nlohmann::json::array();
      for (unsigned long k = 0; k < sequence->card(); ++k)
        items.push_back(to_json(*sequence->getItem(k), decoder));
      out[key] = std::move(items);
      continue;
    }
    OFString value;
    if (element->getLength() > 0) element->getOFStringArray(value);
    std::string text(value.c_str(), value.length());
    if (decoder && charset_dependent(element->ident())) {
      if (auto decoded = decoder->to_utf8(text, element->ident() == EVR_PN)) text = *decoded;
    }
    out[key] = text;
  }
  return out;
}

nlohmann::json answer_to_json(DcmDataset& answer) {
  OFString charset;
  answer.findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
  std::string declared = charset.c_str();
  while (!declared.empty() && declared.back() == ' ') declared.pop_back();
  if (declared.empty() || declared == "ISO_IR 192" || declared == "ISO_IR 6")
    return to_json(answer, nullptr);
  DcmDataset copy(answer);
  if (copy.convertToUTF8().good()) return to_json(copy, nullptr);
  const dicom::CharsetDecoder decoder(declared);
  return to_json(answer, &decoder);
}

}  // namespace

int run_echo(const std::vector<std::string>& arguments) {
  std::vector<std::string> args = arguments;
  std::string config_path;
  if (!take_config_option(args, config_path)) return 2;
  if (args.size() != 1 || args[0].empty() || args[0][0] == '-') {
    std::fputs(kEchoUsage, stderr);
    return 2;
  }
  config::Config cfg;
  if (!load_config_or_report(config_path, cfg)) return 2;
  const std::optional<archive::Node> node = find_node("echo", cfg, args[0]);
  if (!node) return 2;
  if (!prepare_process(cfg)) return 1;

  std::string why;
  if (!dicom::echo(*node, scu_options(cfg), why)) {
    std::fprintf(stderr, "echo %s: failed: %s\n", describe(*node).c_str(), why.c_str());
    return 1;
  }
  std::printf("echo %s: ok\n", describe(*node).c_str());
  return 0;
}

int run_query(const std::vector<std::string>& arguments) {
  std::vector<std::string> args = arguments;
  std::string config_path;
  if (!take_config_option(args, config_path)) return 2;

  std::string node_name;
  std::string level = "STUDY";
  bool patient_root = false;
  std::vector<std::string> keys;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    if (a == "--level" || a == "-l") {
      if (!value(level)) {
        std::fputs(kQueryUsage, stderr);
        return 2;
      }
    } else if (a.rfind("--level=", 0) == 0) {
      level = a.substr(8);
    } else if (a == "--patient-root" || a == "-P") {
      patient_root = true;
    } else if (a == "--study-root" || a == "-S") {
      patient_root = false;
    } else if (a == "-k" || a == "--key") {
      std::string k;
      if (!value(k)) {
        std::fputs(kQueryUsage, stderr);
        return 2;
      }
      keys.push_back(k);
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "ossa query: unknown option '%s'\n%s", a.c_str(), kQueryUsage);
      return 2;
    } else if (node_name.empty()) {
      node_name = a;
    } else {
      std::fprintf(stderr, "ossa query: unexpected argument '%s'\n%s", a.c_str(), kQueryUsage);
      return 2;
    }
  }
  if (node_name.empty()) {
    std::fputs(kQueryUsage, stderr);
    return 2;
  }
  for (auto& c : level) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const DcmTagKey unique_key = level == "PATIENT"  ? DCM_PatientID
                               : level == "STUDY"  ? DCM_StudyInstanceUID
                               : level == "SERIES" ? DCM_SeriesInstanceUID
                               : level == "IMAGE"  ? DCM_SOPInstanceUID
                                                   : DcmTagKey();
  if (unique_key == DcmTagKey()) {
    std::fprintf(stderr, "ossa query: --level must be PATIENT, STUDY, SERIES or IMAGE, not '%s'\n",
                 level.c_str());
    return 2;
  }

  config::Config cfg;
  if (!load_config_or_report(config_path, cfg)) return 2;
  const std::optional<archive::Node> node = find_node("query", cfg, node_name);
  if (!node) return 2;
  if (!node->query) {
    std::fprintf(stderr,
                 "ossa query: node '%s' may not be queried (give it `query: true` in the "
                 "configuration's nodes: section)\n",
                 node->name.c_str());
    return 2;
  }
  // Before the keys: parsing them needs DCMTK's data dictionary, which prepare_process() checks.
  if (!prepare_process(cfg)) return 1;

  DcmDataset identifier;
  identifier.putAndInsertString(DCM_QueryRetrieveLevel, level.c_str());
  bool non_ascii = false;
  for (const auto& k : keys) {
    const size_t eq = k.find('=');
    const std::string name = k.substr(0, eq);
    const std::string value = eq == std::string::npos ? std::string() : k.substr(eq + 1);
    DcmTag tag;
    if (name.empty() || !dicom::parse_tag_key(name, tag)) {
      std::fprintf(stderr, "ossa query: unknown key '%s' (a DICOM keyword or (gggg,eeee))\n",
                   name.c_str());
      return 2;
    }
    if (tag.getEVR() == EVR_SQ) {
      if (!value.empty()) {
        std::fprintf(stderr, "ossa query: %s is a sequence; it can only be a return key\n",
                     name.c_str());
        return 2;
      }
      identifier.insertEmptyElement(tag);
      continue;
    }
    const OFCondition cond = identifier.putAndInsertString(tag, value.c_str());
    if (cond.bad()) {
      std::fprintf(stderr, "ossa query: cannot use %s=%s: %s\n", name.c_str(), value.c_str(),
                   cond.text());
      return 2;
    }
    non_ascii = non_ascii || !dicom::is_ascii(value);
  }
  if (!identifier.tagExists(unique_key)) identifier.insertEmptyElement(unique_key);
  if (non_ascii && !identifier.tagExists(DCM_SpecificCharacterSet))
    identifier.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");

  std::string why;
  const bool ok = dicom::find(
      *node, scu_options(cfg), patient_root, identifier,
      [](DcmDataset& answer) {
        const std::string line =
            answer_to_json(answer).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fputc('\n', stdout);
        return true;
      },
      why);
  std::fflush(stdout);
  if (!ok) {
    std::fprintf(stderr, "query %s: failed: %s\n", describe(*node).c_str(), why.c_str());
    return 1;
  }
  return 0;
}

}  // namespace ossa::app
