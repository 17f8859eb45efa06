#include "mllp.h"

namespace ossa::hl7 {
namespace {

bool blank(const std::string& s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
  }
  return true;
}

}  // namespace

std::string mllp_frame(const std::string& message) {
  std::string out;
  out.reserve(message.size() + 3);
  out.push_back(kStartBlock);
  out += message;
  out.push_back(kEndBlock);
  out.push_back(kCarriageReturn);
  return out;
}

void MllpDecoder::flush_outside(std::vector<MllpEvent>& events) {
  if (state_ == State::kAfterEnd) finish_frame(events, true);  // FS and then nothing: take it
  if (!outside_.empty() && !blank(outside_)) {
    MllpEvent e;
    e.kind = MllpEvent::Kind::kOutside;
    e.data = std::move(outside_);
    e.size = outside_size_;
    events.push_back(std::move(e));
  }
  outside_.clear();
  outside_size_ = 0;
}

void MllpDecoder::finish_frame(std::vector<MllpEvent>& events, bool missing_cr) {
  MllpEvent e;
  e.kind = frame_size_ > max_ ? MllpEvent::Kind::kOversized : MllpEvent::Kind::kMessage;
  e.data = std::move(frame_);
  e.size = frame_size_;
  e.missing_cr = missing_cr;
  events.push_back(std::move(e));
  frame_.clear();
  frame_size_ = 0;
  state_ = State::kOutside;
}

void MllpDecoder::outside_byte(char c, std::vector<MllpEvent>& events) {
  if (c == kStartBlock) {
    flush_outside(events);
    state_ = State::kInside;
    return;
  }
  if (c == kEndBlock) {
    // The end of a frame whose start block was missing (a sender that does not frame).
    const bool had = !outside_.empty() && !blank(outside_);
    if (had) {
      MllpEvent e;
      e.kind = MllpEvent::Kind::kOutside;
      e.data = std::move(outside_);
      e.size = outside_size_;
      e.missing_start = true;
      events.push_back(std::move(e));
    }
    outside_.clear();
    outside_size_ = 0;
    return;
  }
  ++outside_size_;
  if (outside_.size() < max_) outside_.push_back(c);
}

void MllpDecoder::feed(const char* data, size_t size, std::vector<MllpEvent>& events) {
  for (size_t i = 0; i < size; ++i) {
    const char c = data[i];
    switch (state_) {
      case State::kOutside:
        outside_byte(c, events);
        break;
      case State::kInside:
        if (c == kEndBlock) {
          state_ = State::kAfterEnd;
        } else if (c == kStartBlock) {
          MllpEvent e;
          e.kind = MllpEvent::Kind::kInterrupted;
          e.data = std::move(frame_);
          e.size = frame_size_;
          events.push_back(std::move(e));
          frame_.clear();
          frame_size_ = 0;
        } else {
          ++frame_size_;
          if (frame_.size() < max_) frame_.push_back(c);
        }
        break;
      case State::kAfterEnd:
        if (c == kCarriageReturn) {
          finish_frame(events, false);
        } else {
          finish_frame(events, true);
          outside_byte(c, events);
        }
        break;
    }
  }
}

}  // namespace ossa::hl7
