#pragma once
// Original-mode acknowledgements (HL7 v2 chapter 2): MSH + MSA [+ ERR].
//
//   MSH  the received MSH's delimiters; sending and receiving application/facility swapped
//        (MSH-3/4 of the ACK = MSH-5/6 received, or the configured name when those are empty);
//        MSH-9 ACK^<event> (v2.3-2.4) or ACK^<event>^ACK (v2.5+); a new control ID; MSH-11 and
//        MSH-12 copied; MSH-18 copied when the ACK is encoded in that character set.
//   MSA  MSA-1 AA | AE | AR; MSA-2 = the received MSH-10, byte for byte; MSA-3 the text.
//   ERR  for AE/AR with an error code (HL7 table 0357): v2.5+ ERR-2 location, ERR-3 code^text^
//        HL70357, ERR-4 severity E, ERR-8 the text; v2.3-2.4 ERR-1 segment^sequence^field^
//        code&text&HL70357.

#include <string>

#include "er7.h"

namespace ossa::hl7 {

enum class AckCode { kAccept, kError, kReject };
const char* ack_code_text(AckCode code);  // "AA", "AE", "AR"

// HL7 table 0357 codes used here.
namespace error_code {
constexpr int kSegmentSequence = 100;
constexpr int kRequiredFieldMissing = 101;
constexpr int kDataType = 102;
constexpr int kTableValueNotFound = 103;
constexpr int kValueTooLong = 104;
constexpr int kUnsupportedMessageType = 200;
constexpr int kUnsupportedEvent = 201;
constexpr int kUnsupportedProcessingId = 202;
constexpr int kUnsupportedVersion = 203;
constexpr int kUnknownKey = 204;
constexpr int kDuplicateKey = 205;
constexpr int kInternalError = 207;
}  // namespace error_code

struct AckDecision {
  AckCode code = AckCode::kAccept;
  std::string text;     // MSA-3 (and ERR-8): why, or a note for AA ("" for none)
  int error = 0;        // HL7 table 0357 code; 0 = no ERR segment
  std::string segment;  // ERR location: segment name, field number ("" / 0 = none)
  int field = 0;

  static AckDecision accept(std::string note = {}) {
    return {AckCode::kAccept, std::move(note), 0, {}, 0};
  }
  static AckDecision fail(AckCode code, int error, std::string text, std::string segment = {},
                          int field = 0) {
    return {code, std::move(text), error, std::move(segment), field};
  }
};

// What the ACK needs from the received header, raw as received (still escaped).
struct ReceivedHeader {
  Delimiters delimiters;
  std::string sending_application, sending_facility;      // MSH-3, MSH-4
  std::string receiving_application, receiving_facility;  // MSH-5, MSH-6
  std::string message_type;                               // MSH-9 raw
  std::string control_id;                                 // MSH-10 raw
  std::string processing_id;                              // MSH-11 raw
  std::string version;                                    // MSH-12 raw
  std::string charset;                                    // MSH-18 raw

  static ReceivedHeader from(const Message& message);
  // Version ID (MSH-12.1), event (MSH-9.2), message code (MSH-9.1), unescaped.
  [[nodiscard]] std::string version_id() const;
  [[nodiscard]] std::string message_code() const;
  [[nodiscard]] std::string trigger_event() const;
};

// Builds the ACK as UTF-8 text, segments ended by CR. `own_application` replaces an empty
// MSH-5; `control_id` and `timestamp` (YYYYMMDDHHMMSS) are the ACK's MSH-10 and MSH-7;
// `charset` is written as MSH-18 ("" = none).
std::string build_ack(const ReceivedHeader& received, const AckDecision& decision,
                      const std::string& own_application, const std::string& control_id,
                      const std::string& timestamp, const std::string& charset);

}  // namespace ossa::hl7
