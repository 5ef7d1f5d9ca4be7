#include "proxy/websocket_frames.hpp"

#include <algorithm>

namespace drawbridge::proxy {

// Called once the first two header bytes are in: 2, plus the extended length (2 or 8), plus the mask (4).
std::size_t websocket_frame_cursor::header_size() const {
  const unsigned length7 = header_[1] & 0x7f;
  const bool masked = (header_[1] & 0x80) != 0;
  return 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + (masked ? 4 : 0);
}

std::size_t websocket_frame_cursor::advance(const void* data, std::size_t size, bool stop_at_frame_end) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::size_t used = 0;
  for (;;) {
    if (lost_) return size;
    if (stop_at_frame_end && between_frames()) return used;
    if (used == size) return used;
    if (payload_left_ > 0) {
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(payload_left_, size - used));
      payload_left_ -= take;
      used += take;
      continue;
    }
    header_[header_have_++] = bytes[used++];
    if (header_have_ < 2 || header_have_ < header_size()) continue;
    if ((header_[0] & 0x0f) == 0x8) close_seen_ = true;
    const unsigned length7 = header_[1] & 0x7f;
    std::uint64_t length = length7;
    if (length7 == 126) length = (std::uint64_t{header_[2]} << 8) | header_[3];
    if (length7 == 127) {
      length = 0;
      for (int i = 2; i < 10; ++i) length = (length << 8) | header_[i];
      if (length >> 63) lost_ = true;  // §5.2: the most significant bit must be 0
    }
    payload_left_ = length;
    header_have_ = 0;
  }
}

std::string websocket_close_frame(std::uint16_t code, std::string_view reason) {
  reason = reason.substr(0, 123);  // a control frame's payload is at most 125 bytes, the code takes 2
  std::string frame;
  frame.reserve(4 + reason.size());
  frame.push_back(static_cast<char>(0x88));               // FIN, opcode 8 (close)
  frame.push_back(static_cast<char>(2 + reason.size()));  // unmasked: servers do not mask
  frame.push_back(static_cast<char>(code >> 8));
  frame.push_back(static_cast<char>(code & 0xff));
  frame.append(reason);
  return frame;
}

}  // namespace drawbridge::proxy
