#pragma once
// What the plugin does with one HL7 message: identify it (MSH), journal it, apply it through the
// host (patient update and merge, worklist methods), and build its ACK. Independent of sockets
// and of the host's C API (HostPort), so that unit tests drive it directly.
//
// Order of work for a message (plugins/hl7/README.md):
//   1. MSH unreadable, MSH-9/MSH-10/MSH-12 missing, version not 2.3-2.5.1  -> AR (not journalled);
//   2. the same sender (MSH-3, MSH-4) and control ID (MSH-10) already journalled with AA  -> the
//      journalled ACK again, nothing re-applied; journalled without an outcome (a crash) or with
//      AE/AR  -> processed again ("retry");
//   3. journalled durably (the raw message);
//   4. character set (MSH-18) converted to UTF-8; unknown  -> AE;
//   5. applied by message type; unsupported type/event  -> AR;
//   6. the outcome and the ACK journalled durably; the ACK returned for sending.
//
// Thread safety: handle() may run on several connection threads at once; messages are applied
// one at a time (a mutex), in arrival order per connection.

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "ack.h"
#include "er7.h"
#include "journal.h"
#include "log.h"
#include "mapping.h"

namespace ossa::hl7 {

enum class HostStatus { kOk, kNotFound, kInvalid, kError };

// The host services the processor uses (the plugin forwards them to the SDK's Host).
class HostPort {
 public:
  virtual ~HostPort() = default;
  virtual HostStatus update_patient(const std::string& patient_id,
                                    const std::string& attributes_json) = 0;
  virtual HostStatus merge_patient(const std::string& old_id, const std::string& new_id) = 0;
  // `result` receives the method's JSON on kOk.
  virtual HostStatus call_method(const std::string& name, const std::string& params_json,
                                 std::string& result) = 0;
  virtual void log(LogLevel level, const std::string& message) = 0;
};

struct ProcessorOptions {
  std::string application = "OSSA";       // MSH-3 of ACKs when the message's MSH-5 is empty
  std::string default_charset = "ASCII";  // MSH-18 assumed when a message has none
  MappingOptions mapping;
};

class Processor {
 public:
  Processor(ProcessorOptions options, Journal& journal, HostPort& host)
      : options_(std::move(options)), journal_(journal), host_(host) {}

  // One framed message (bytes as received) -> the ACK to send (bytes, the message's charset).
  std::string handle(const std::string& raw, const std::string& peer);
  // A framing problem: an AR when an MSH can be read from `data`, else "" (logged either way).
  std::string framing_error(const std::string& data, const std::string& peer,
                            const std::string& problem);

  // Messages handled so far (for the status method).
  [[nodiscard]] uint64_t handled() const;

 private:
  struct Context;  // one message being applied
  AckDecision apply(Context& c);
  AckDecision apply_adt_update(Context& c);
  AckDecision apply_adt_merge(Context& c);
  AckDecision apply_order(Context& c);
  bool worklist_present();
  std::string encode_ack(const ReceivedHeader& header, const AckDecision& decision,
                         const std::string& charset_iconv);
  std::string next_control_id();

  ProcessorOptions options_;
  Journal& journal_;
  HostPort& host_;
  mutable std::mutex mutex_;  // one message applied at a time
  uint64_t handled_ = 0;      // guarded by mutex_
  uint64_t ack_counter_ = 0;  // guarded by mutex_
};

}  // namespace ossa::hl7
