#include "processor.h"

#include <chrono>
#include <ctime>
#include <set>

#include "charset.h"

namespace ossa::hl7 {
namespace {

const std::set<std::string> kSupportedVersions = {"2.3", "2.3.1", "2.4", "2.5", "2.5.1"};
const std::set<std::string> kUpdateEvents = {"A01", "A04", "A05", "A08", "A28", "A31"};
const std::set<std::string> kMergeEvents = {"A34", "A36", "A39", "A40"};

std::string local_timestamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d%H%M%S", &tm);
  return text;
}

std::string join(const std::vector<std::string>& parts, const char* separator = "; ") {
  std::string out;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    if (!out.empty()) out += separator;
    out += p;
  }
  return out;
}

// The result of several steps (merge pairs, order groups): the first failure decides the code.
struct Outcome {
  std::vector<std::string> notes;
  std::optional<AckDecision> failure;

  void note(std::string text) { notes.push_back(std::move(text)); }
  void fail(AckDecision d) {
    if (!failure) {
      failure = std::move(d);
    } else {
      failure->text += "; " + d.text;
    }
  }
  AckDecision decision() const {
    if (failure) {
      AckDecision d = *failure;
      const std::string done = join(notes);
      if (!done.empty()) d.text += " (done: " + done + ")";
      return d;
    }
    return AckDecision::accept(join(notes));
  }
};

}  // namespace

struct Processor::Context {
  const Message& message;
  ReceivedHeader header;
  int64_t journal_id = 0;
  bool retry = false;  // the same message was journalled before without an AA
};

uint64_t Processor::handled() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return handled_;
}

std::string Processor::next_control_id() {
  // Unique across restarts: milliseconds since the epoch and a counter (20 characters at most).
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  return "A" + std::to_string(ms) + std::to_string(ack_counter_++ % 1000);
}

std::string Processor::encode_ack(const ReceivedHeader& header, const AckDecision& decision,
                                  const std::string& charset_iconv) {
  // MSH-18 of the ACK: the message's own, when the ACK is written in that character set.
  std::string label;
  if (!charset_iconv.empty() && charset_iconv != "ASCII") {
    const auto reps = split(header.charset, header.delimiters.repetition);
    label = unescape(reps.front(), header.delimiters);
  }
  const std::string text = build_ack(header, decision, options_.application, next_control_id(),
                                     local_timestamp(), label);
  if (charset_iconv.empty() || charset_iconv == "UTF-8") return text;
  std::string out, error;
  if (!convert(text, "UTF-8", charset_iconv, out, error, true)) return text;
  return out;
}

std::string Processor::framing_error(const std::string& data, const std::string& peer,
                                     const std::string& problem) {
  std::string error;
  const size_t msh = data.find("MSH");
  const auto message =
      msh == std::string::npos ? std::nullopt : Message::parse(data.substr(msh), error);
  if (!message) {
    host_.log(LogLevel::kWarning, peer + ": " + problem + "; no MSH to answer, discarded");
    return {};
  }
  const ReceivedHeader h = ReceivedHeader::from(*message);
  host_.log(LogLevel::kWarning, peer + ": " + problem + "; message " + h.control_id + " (" +
                                    h.message_type + ") rejected with AR, not processed");
  std::lock_guard<std::mutex> lock(mutex_);
  return encode_ack(h,
                    AckDecision::fail(AckCode::kReject, error_code::kSegmentSequence,
                                      "MLLP framing error: " + problem),
                    "");
}

std::string Processor::handle(const std::string& raw, const std::string& peer) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++handled_;
  std::string error;
  const auto head = Message::parse(raw, error);
  if (!head) {
    host_.log(LogLevel::kWarning, peer + ": malformed message rejected with AR: " + error);
    return encode_ack(ReceivedHeader{},
                      AckDecision::fail(AckCode::kReject, error_code::kRequiredFieldMissing,
                                        "malformed MSH: " + error, "MSH"),
                      "");
  }
  const ReceivedHeader raw_header = ReceivedHeader::from(*head);
  const auto reject = [&](int code, const std::string& text, int field) {
    host_.log(LogLevel::kWarning, peer + ": message '" + raw_header.control_id + "' (" +
                                      raw_header.message_type + ") rejected with AR: " + text);
    return encode_ack(raw_header, AckDecision::fail(AckCode::kReject, code, text, "MSH", field),
                      "");
  };
  if (raw_header.message_type.empty())
    return reject(error_code::kRequiredFieldMissing, "malformed MSH: MSH-9 message type missing",
                  9);
  if (raw_header.control_id.empty())
    return reject(error_code::kRequiredFieldMissing, "malformed MSH: MSH-10 control ID missing",
                  10);
  if (raw_header.version.empty())
    return reject(error_code::kRequiredFieldMissing, "malformed MSH: MSH-12 version ID missing",
                  12);
  const std::string version = raw_header.version_id();
  if (!kSupportedVersions.count(version))
    return reject(error_code::kUnsupportedVersion,
                  "unsupported HL7 version '" + version + "' (2.3 to 2.5.1 are supported)", 12);

  // Duplicates: the same sender and control ID, already acknowledged with AA.
  const std::string sender = raw_header.sending_application + "|" + raw_header.sending_facility;
  const auto existing = journal_.find(sender, raw_header.control_id);
  if (existing && existing->ack_code == "AA" && !existing->ack.empty()) {
    host_.log(LogLevel::kInfo, peer + ": message '" + raw_header.control_id + "' (" +
                                   raw_header.message_type + ") already applied on " +
                                   existing->received_at + ": acknowledged again, not re-applied");
    return existing->ack;
  }

  const int64_t id =
      journal_.record(sender, raw_header.control_id, raw_header.message_type, peer, raw, error);
  if (id == 0) {
    host_.log(LogLevel::kError, peer + ": message '" + raw_header.control_id +
                                    "' not journalled, not applied: " + error);
    return encode_ack(raw_header,
                      AckDecision::fail(AckCode::kError, error_code::kInternalError,
                                        "the message could not be recorded; send it again later"),
                      "");
  }

  const auto finish = [&](const ReceivedHeader& h, const AckDecision& decision,
                          const std::string& charset_iconv) {
    const std::string ack = encode_ack(h, decision, charset_iconv);
    std::string journal_error;
    if (!journal_.complete(id, ack_code_text(decision.code), decision.text, ack, journal_error))
      host_.log(LogLevel::kError, "journal: " + journal_error);
    const std::string line = peer + ": " + h.message_type + " '" + h.control_id +
                             "': " + ack_code_text(decision.code) +
                             (decision.text.empty() ? "" : " " + decision.text);
    host_.log(decision.code == AckCode::kAccept ? LogLevel::kInfo : LogLevel::kWarning, line);
    return ack;
  };

  // Character set: MSH-18 (its first repetition), or the configured default.
  std::string label = unescape(split(raw_header.charset, raw_header.delimiters.repetition).front(),
                               raw_header.delimiters);
  if (label.empty()) label = options_.default_charset;
  const auto charset = iconv_charset(label);
  if (!charset) {
    return finish(raw_header,
                  AckDecision::fail(AckCode::kError, error_code::kTableValueNotFound,
                                    "unknown character set '" + label + "' in MSH-18", "MSH", 18),
                  "");
  }
  std::string text;
  if (!convert(raw, *charset, "UTF-8", text, error)) {
    if (*charset == "ASCII" && is_valid_utf8(raw)) {
      text = raw;  // no MSH-18 but UTF-8 text: taken as UTF-8 (a common sender habit)
    } else {
      return finish(
          raw_header,
          AckDecision::fail(AckCode::kError, error_code::kDataType,
                            "the message is not valid " + label + " (MSH-18): " + error, "MSH", 18),
          "");
    }
  }
  auto message = Message::parse(text, error);
  if (!message) {
    return finish(raw_header,
                  AckDecision::fail(AckCode::kReject, error_code::kRequiredFieldMissing,
                                    "malformed MSH after character set conversion: " + error),
                  "");
  }
  const std::string from = *charset;
  message->set_hex_decoder([from](const std::string& bytes, std::string& utf8) {
    std::string ignored;
    return convert(bytes, from, "UTF-8", utf8, ignored, true);
  });
  Context c{*message, ReceivedHeader::from(*message), id, existing.has_value()};
  AckDecision decision;
  try {
    decision = apply(c);
  } catch (const std::exception& e) {
    host_.log(LogLevel::kError, "applying '" + c.header.control_id + "': " + e.what());
    decision = AckDecision::fail(AckCode::kError, error_code::kInternalError,
                                 std::string("internal error: ") + e.what());
  }
  return finish(c.header, decision, *charset);
}

AckDecision Processor::apply(Context& c) {
  const std::string code = c.header.message_code();
  const std::string event = c.header.trigger_event();
  if (code == "ADT") {
    if (kUpdateEvents.count(event)) return apply_adt_update(c);
    if (kMergeEvents.count(event)) return apply_adt_merge(c);
    return AckDecision::fail(
        AckCode::kReject, error_code::kUnsupportedEvent,
        "ADT event '" + event + "' is not supported (A01 A04 A05 A08 A28 A31 A34 A36 A39 A40)",
        "MSH", 9);
  }
  if ((code == "ORM" && event == "O01") || (code == "OMI" && event == "O23")) return apply_order(c);
  if (code == "ORM" || code == "OMI")
    return AckDecision::fail(AckCode::kReject, error_code::kUnsupportedEvent,
                             code + " event '" + event + "' is not supported (ORM^O01, OMI^O23)",
                             "MSH", 9);
  return AckDecision::fail(AckCode::kReject, error_code::kUnsupportedMessageType,
                           "message type '" + code + "' is not supported (ADT, ORM, OMI)", "MSH",
                           9);
}

AckDecision Processor::apply_adt_update(Context& c) {
  const Message& m = c.message;
  const Segment* pid = m.first("PID");
  if (pid == nullptr)
    return AckDecision::fail(AckCode::kError, error_code::kRequiredFieldMissing,
                             "PID segment missing", "PID");
  std::string id = choose_patient_id(m, pid->field(3), options_.mapping);
  if (id.empty()) id = choose_patient_id(m, pid->field(2), options_.mapping);
  if (id.empty())
    return AckDecision::fail(AckCode::kError, error_code::kRequiredFieldMissing,
                             "PID-3 patient ID missing", "PID", 3);
  std::vector<std::string> notes;
  const nlohmann::json attributes = demographics(m, *pid, id, options_.mapping, notes);
  if (attributes.empty()) {
    notes.insert(notes.begin(), "no demographics in PID: nothing to update");
    return AckDecision::accept(join(notes));
  }
  switch (host_.update_patient(id, attributes.dump())) {
    case HostStatus::kOk:
      break;
    case HostStatus::kNotFound:
      notes.insert(notes.begin(), "patient " + id + " is not in the archive: nothing to update");
      break;
    default:
      return AckDecision::fail(
          AckCode::kError, error_code::kInternalError,
          "the archive could not update patient " + id + " (see the server log)");
  }
  return AckDecision::accept(join(notes));
}

AckDecision Processor::apply_adt_merge(Context& c) {
  const Message& m = c.message;
  Outcome outcome;
  const Segment* pid = nullptr;
  int pairs = 0;
  for (const Segment& s : m.segments()) {
    if (s.name == "PID") {
      pid = &s;
      continue;
    }
    if (s.name != "MRG") continue;
    ++pairs;
    if (pid == nullptr) {
      outcome.fail(AckDecision::fail(AckCode::kError, error_code::kSegmentSequence,
                                     "MRG without a PID before it", "MRG"));
      break;
    }
    const std::string new_id = choose_patient_id(m, pid->field(3), options_.mapping);
    const std::string old_id = choose_patient_id(m, s.field(1), options_.mapping);
    if (new_id.empty()) {
      outcome.fail(AckDecision::fail(AckCode::kError, error_code::kRequiredFieldMissing,
                                     "PID-3 (surviving patient ID) missing", "PID", 3));
      break;
    }
    if (old_id.empty()) {
      outcome.fail(AckDecision::fail(AckCode::kError, error_code::kRequiredFieldMissing,
                                     "MRG-1 (prior patient ID) missing", "MRG", 1));
      break;
    }
    if (old_id == new_id) {
      outcome.note("self merge: MRG-1 and PID-3 are both " + old_id + ", nothing to merge");
      continue;
    }

    // What the journal knows: the same merge before; or a path of merges from the new ID back
    // to the old one (new -> ... -> old): this merge reverses it (one step) or closes a cycle.
    const auto same_before = journal_.merge(old_id, new_id);
    std::vector<std::string> path{new_id};
    bool loops = false;
    for (int step = 0; step < 32; ++step) {
      const auto next = journal_.last_merge_of(path.back());
      if (!next) break;
      path.push_back(next->new_id);
      if (next->new_id == old_id) {
        loops = true;
        break;
      }
    }

    std::string merge_error;
    switch (host_.merge_patient(old_id, new_id)) {
      case HostStatus::kOk: {
        if (!journal_.add_merge(old_id, new_id, c.journal_id, merge_error))
          host_.log(LogLevel::kError, merge_error);
        std::string note = "merged " + old_id + " into " + new_id;
        if (loops && path.size() == 2) {
          note += " (reverses the earlier merge of " + new_id + " into " + old_id +
                  "; every study of both now answers under " + new_id + ")";
        } else if (loops) {
          std::string chain;
          for (const auto& p : path) chain += (chain.empty() ? "" : " -> ") + p;
          note += " (closes a merge cycle " + chain + "; every study on it now answers under " +
                  new_id + ")";
        } else if (same_before) {
          note += " again (studies had arrived under " + old_id + " since the merge of " +
                  same_before->at + ")";
        }
        outcome.note(note);
        break;
      }
      case HostStatus::kNotFound: {
        if (same_before) {
          outcome.note("repeated merge: " + old_id + " was merged into " + new_id + " on " +
                       same_before->at + " (message " + same_before->control_id +
                       "); nothing left to merge");
          break;
        }
        const auto elsewhere = journal_.last_merge_of(old_id);
        if (elsewhere && elsewhere->new_id != new_id) {
          outcome.fail(AckDecision::fail(AckCode::kError, error_code::kUnknownKey,
                                         "conflicting merge: " + old_id + " was merged into " +
                                             elsewhere->new_id + " on " + elsewhere->at +
                                             " (message " + elsewhere->control_id + "), not into " +
                                             new_id + "; nothing changed",
                                         "MRG", 1));
          break;
        }
        outcome.note("patient " + old_id + " is not in the archive: nothing to merge into " +
                     new_id);
        break;
      }
      default:
        outcome.fail(AckDecision::fail(
            AckCode::kError, error_code::kInternalError,
            "the archive could not merge " + old_id + " into " + new_id + " (see the server log)"));
        break;
    }
    if (outcome.failure) break;

    // The surviving patient's demographics as the message gives them.
    std::vector<std::string> notes;
    const nlohmann::json attributes = demographics(m, *pid, new_id, options_.mapping, notes);
    if (!attributes.empty() &&
        host_.update_patient(new_id, attributes.dump()) == HostStatus::kError)
      outcome.note("the demographics of " + new_id + " could not be updated");
    for (auto& n : notes) outcome.note(std::move(n));
  }
  if (pairs == 0)
    return AckDecision::fail(AckCode::kError, error_code::kRequiredFieldMissing,
                             "MRG segment missing", "MRG");
  return outcome.decision();
}

bool Processor::worklist_present() {
  // The ABI's call_method answers OSSA_E_NOT_FOUND both for a missing method and for a method
  // that reports "not found"; worklist.add never does the latter, and refuses empty parameters.
  std::string ignored;
  return host_.call_method("worklist.add", "{}", ignored) != HostStatus::kNotFound;
}

AckDecision Processor::apply_order(Context& c) {
  std::string error;
  const std::vector<Order> found = orders(c.message, options_.mapping, error);
  if (!error.empty())
    return AckDecision::fail(AckCode::kError, error_code::kSegmentSequence, error, "ORC");
  if (found.empty())
    return AckDecision::fail(AckCode::kError, error_code::kRequiredFieldMissing,
                             "ORC segment missing", "ORC");
  const auto no_worklist = [] {
    return AckDecision::fail(AckCode::kError, error_code::kInternalError,
                             "no worklist: the worklist plugin is not loaded");
  };
  Outcome outcome;
  for (const Order& o : found) {
    const std::string what = "order " + o.order_id;
    if (o.order_id.empty()) {
      outcome.fail(AckDecision::fail(
          AckCode::kError, error_code::kRequiredFieldMissing,
          "ORC-2 / OBR-2 placer order number missing (ORC " + std::to_string(o.index) + ")", "ORC",
          2));
      break;
    }
    std::string result;
    if (o.control == "NW") {
      if (!o.entry.contains("PatientID")) {
        outcome.fail(AckDecision::fail(AckCode::kError, error_code::kRequiredFieldMissing,
                                       what + ": PID-3 patient ID missing", "PID", 3));
        break;
      }
      const nlohmann::json params = {{"order_id", o.order_id}, {"entry", o.entry}};
      const HostStatus status = host_.call_method("worklist.add", params.dump(), result);
      if (status == HostStatus::kOk) {
        std::string uid;
        try {
          uid = nlohmann::json::parse(result).value("StudyInstanceUID", "");
        } catch (const std::exception&) {
        }
        outcome.note(what + " scheduled" + (uid.empty() ? "" : " (study " + uid + ")"));
        continue;
      }
      if (status == HostStatus::kNotFound) {
        outcome.fail(no_worklist());
        break;
      }
      // Refused: most likely the order exists already. Asking for an empty update tells.
      std::string ignored;
      const nlohmann::json probe = {{"order_id", o.order_id}, {"entry", nlohmann::json::object()}};
      const bool exists =
          host_.call_method("worklist.update", probe.dump(), ignored) == HostStatus::kOk;
      if (exists && c.retry) {
        outcome.note(what + " was scheduled by an earlier delivery of this message");
      } else if (exists) {
        outcome.fail(AckDecision::fail(AckCode::kError, error_code::kDuplicateKey,
                                       what + " already exists (NW for a known order)", "ORC", 2));
      } else {
        outcome.fail(AckDecision::fail(AckCode::kError, error_code::kInternalError,
                                       what + " was refused by the worklist (see the server log)"));
      }
    } else if (o.control == "XO" || o.control == "SC") {
      nlohmann::json partial = nlohmann::json::object();
      for (const auto& [key, value] : o.entry.items()) {
        if (!is_patient_key(key)) partial[key] = value;  // IHE: XO does not update the patient
      }
      const nlohmann::json params = {{"order_id", o.order_id}, {"entry", partial}};
      const HostStatus status = host_.call_method("worklist.update", params.dump(), result);
      if (status == HostStatus::kOk) {
        outcome.note(what + " updated");
      } else if (status == HostStatus::kNotFound) {
        if (!worklist_present()) {
          outcome.fail(no_worklist());
        } else {
          outcome.fail(AckDecision::fail(
              AckCode::kError, error_code::kUnknownKey,
              what + " is not on the worklist (" + o.control + " for an unknown order)", "ORC", 2));
        }
      } else {
        outcome.fail(AckDecision::fail(AckCode::kError, error_code::kInternalError,
                                       what + ": the worklist refused the change (see the log)"));
      }
    } else if (o.control == "CA" || o.control == "DC" || o.control == "OC") {
      const std::string reason = o.control == "DC" ? "DC" : "CA";
      const nlohmann::json params = {{"order_id", o.order_id}, {"reason", reason}};
      const HostStatus status = host_.call_method("worklist.remove", params.dump(), result);
      if (status == HostStatus::kOk) {
        outcome.note(what + (reason == "DC" ? " discontinued" : " cancelled"));
      } else if (status == HostStatus::kNotFound) {
        if (!worklist_present()) {
          outcome.fail(no_worklist());
        } else {
          outcome.note(what + " is not on the worklist: nothing to cancel");
        }
      } else {
        outcome.fail(AckDecision::fail(AckCode::kError, error_code::kInternalError,
                                       what + ": the worklist refused the cancellation"));
      }
    } else {
      outcome.fail(AckDecision::fail(
          AckCode::kError, error_code::kTableValueNotFound,
          "order control '" + o.control + "' is not supported (NW, XO, SC, CA, DC, OC)", "ORC", 1));
    }
    if (outcome.failure) break;
  }
  return outcome.decision();
}

}  // namespace ossa::hl7
