#pragma once
// MLLP framing (HL7 v2 Minimal Lower Layer Protocol): <VT 0x0B> message <FS 0x1C><CR 0x0D>.
//
// MllpDecoder turns a byte stream into framed messages and framing problems; nothing is dropped
// without an event. It never holds more than `max_message_bytes` of one message (the rest of an
// oversized frame is counted and discarded; the kept head still identifies the message).
//
// Thread safety: none; one decoder per connection.

#include <cstddef>
#include <string>
#include <vector>

namespace ossa::hl7 {

constexpr char kStartBlock = 0x0b;
constexpr char kEndBlock = 0x1c;
constexpr char kCarriageReturn = 0x0d;

struct MllpEvent {
  enum class Kind {
    kMessage,      // a complete frame: `data` is the message
    kOversized,    // a complete frame longer than the limit: `data` is its head, `size` the total
    kInterrupted,  // a start block arrived inside a frame: `data` is the unfinished frame
    kOutside,      // bytes outside any frame that are not white space: `data` holds them
  };
  Kind kind = Kind::kMessage;
  std::string data;
  size_t size = 0;             // bytes of the frame (or of the outside run)
  bool missing_cr = false;     // kMessage: FS was not followed by CR (tolerated)
  bool missing_start = false;  // kOutside: ended by an end block (a frame without its start)
};

class MllpDecoder {
 public:
  explicit MllpDecoder(size_t max_message_bytes) : max_(max_message_bytes) {}

  void feed(const char* data, size_t size, std::vector<MllpEvent>& events);
  // Reports bytes waiting outside a frame, and a frame whose end block came without its CR
  // (call after a pause in the stream, or at the end).
  void flush_outside(std::vector<MllpEvent>& events);

  [[nodiscard]] bool in_frame() const { return state_ != State::kOutside; }
  [[nodiscard]] size_t frame_bytes() const { return frame_size_; }
  [[nodiscard]] const std::string& frame_head() const { return frame_; }
  [[nodiscard]] bool has_outside_bytes() const { return !outside_.empty(); }

 private:
  enum class State { kOutside, kInside, kAfterEnd };
  void finish_frame(std::vector<MllpEvent>& events, bool missing_cr);
  void outside_byte(char c, std::vector<MllpEvent>& events);

  size_t max_;
  State state_ = State::kOutside;
  std::string frame_;
  size_t frame_size_ = 0;
  std::string outside_;
  size_t outside_size_ = 0;
};

// Frames a message for sending.
std::string mllp_frame(const std::string& message);

}  // namespace ossa::hl7
