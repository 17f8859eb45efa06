#include "ack.h"

namespace ossa::hl7 {
namespace {

const char* standard_text(int code) {
  switch (code) {
    case 100:
      return "Segment sequence error";
    case 101:
      return "Required field missing";
    case 102:
      return "Data type error";
    case 103:
      return "Table value not found";
    case 104:
      return "Value too long";
    case 200:
      return "Unsupported message type";
    case 201:
      return "Unsupported event code";
    case 202:
      return "Unsupported processing id";
    case 203:
      return "Unsupported version id";
    case 204:
      return "Unknown key identifier";
    case 205:
      return "Duplicate key identifier";
    case 206:
      return "Application record locked";
    default:
      return "Application internal error";
  }
}

// v2.5 and later carry the error in ERR-2..ERR-8; earlier versions in ERR-1.
bool modern_err(const std::string& version) {
  return version.rfind("2.5", 0) == 0 || version.rfind("2.6", 0) == 0 ||
         version.rfind("2.7", 0) == 0 || version.rfind("2.8", 0) == 0;
}

}  // namespace

const char* ack_code_text(AckCode code) {
  switch (code) {
    case AckCode::kAccept:
      return "AA";
    case AckCode::kError:
      return "AE";
    case AckCode::kReject:
      return "AR";
  }
  return "AE";
}

ReceivedHeader ReceivedHeader::from(const Message& m) {
  const Segment& msh = m.header();
  ReceivedHeader h;
  h.delimiters = m.delimiters();
  h.sending_application = msh.field(3);
  h.sending_facility = msh.field(4);
  h.receiving_application = msh.field(5);
  h.receiving_facility = msh.field(6);
  h.message_type = msh.field(9);
  h.control_id = msh.field(10);
  h.processing_id = msh.field(11);
  h.version = msh.field(12);
  h.charset = msh.field(18);
  return h;
}

std::string ReceivedHeader::version_id() const {
  return unescape(split(split(version, delimiters.repetition)[0], delimiters.component)[0],
                  delimiters);
}

std::string ReceivedHeader::message_code() const {
  return unescape(split(message_type, delimiters.component)[0], delimiters);
}

std::string ReceivedHeader::trigger_event() const {
  const auto parts = split(message_type, delimiters.component);
  return parts.size() > 1 ? unescape(parts[1], delimiters) : std::string();
}

std::string build_ack(const ReceivedHeader& r, const AckDecision& decision,
                      const std::string& own_application, const std::string& control_id,
                      const std::string& timestamp, const std::string& charset) {
  const Delimiters& d = r.delimiters;
  const char f = d.field;
  const std::string version = r.version_id();
  const std::string event = r.trigger_event();
  std::string type = "ACK";
  if (!event.empty() && d.component != '\0') {
    type += d.component + escape(event, d);
    if (modern_err(version)) type += std::string(1, d.component) + "ACK";
  }
  const std::string sender =
      r.receiving_application.empty() ? escape(own_application, d) : r.receiving_application;

  std::string out = "MSH";
  out += f;
  out += d.encoding_characters();
  // MSH-3..MSH-12
  for (const std::string* v :
       {&sender, &r.receiving_facility, &r.sending_application, &r.sending_facility}) {
    out += f;
    out += *v;
  }
  out += f + escape(timestamp, d);                                            // MSH-7
  out += f;                                                                   // MSH-8 security
  out += f + type;                                                            // MSH-9
  out += f + escape(control_id, d);                                           // MSH-10
  out += f + (r.processing_id.empty() ? std::string("P") : r.processing_id);  // MSH-11
  out += f + (r.version.empty() ? std::string("2.5.1") : r.version);          // MSH-12
  if (!charset.empty()) {
    out += std::string(5, f);       // MSH-13..17 empty
    out += f + escape(charset, d);  // MSH-18
  }
  out += '\r';

  out += "MSA";
  out += f + std::string(ack_code_text(decision.code));
  out += f + r.control_id;
  if (!decision.text.empty()) out += f + escape(decision.text, d);
  out += '\r';

  if (decision.error != 0 && decision.code != AckCode::kAccept) {
    const std::string code = std::to_string(decision.error);
    const std::string text = standard_text(decision.error);
    const char c = d.component != '\0' ? d.component : ' ';
    out += "ERR";
    if (modern_err(version)) {
      std::string location;
      if (!decision.segment.empty()) {
        location = decision.segment + c + "1";
        if (decision.field > 0) location += c + std::to_string(decision.field);
      }
      out += f;                                               // ERR-1 (not used in 2.5)
      out += f + location;                                    // ERR-2
      out += f + code + c + escape(text, d) + c + "HL70357";  // ERR-3
      out += f + std::string("E");                            // ERR-4
      out += std::string(4, f);                               // ERR-5..7 empty
      out += escape(decision.text, d);                        // ERR-8
    } else {
      const char s = d.subcomponent != '\0' ? d.subcomponent : ' ';
      out += f + decision.segment + c + (decision.segment.empty() ? "" : "1") + c +
             (decision.field > 0 ? std::to_string(decision.field) : std::string()) + c + code + s +
             escape(text, d) + s + "HL70357";
    }
    out += '\r';
  }
  return out;
}

}  // namespace ossa::hl7
