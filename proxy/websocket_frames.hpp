#pragma once
// Just enough of WebSocket framing (RFC 6455 §5.2) for the tunnel to end a connection cleanly: where the
// frames in the node's byte stream begin and end, and the close frame drawbridge sends in the node's
// place. The tunnel otherwise copies bytes without looking at them; this reads only frame headers and
// skips payloads by their length.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace drawbridge::proxy {

class websocket_frame_cursor {
 public:
  // Follows `size` more bytes of the stream. With `stop_at_frame_end`, stops as soon as a frame ends
  // (at once when already between frames). Returns how many bytes it followed: the caller passes on that
  // many and no more.
  std::size_t advance(const void* data, std::size_t size, bool stop_at_frame_end = false);

  // Between two frames: a frame of our own may go out here without landing inside one of the node's.
  // Control frames may sit between the fragments of a message (§5.4), so any frame end will do.
  bool between_frames() const { return !lost_ && header_have_ == 0 && payload_left_ == 0; }
  // The stream stopped looking like WebSocket frames (a length beyond 2^63): frame ends are unknown from
  // here on, so no frame of our own may be added.
  bool lost() const { return lost_; }
  // A close frame (opcode 8) has begun: the stream's sender is closing, so no close of our own may follow.
  bool close_seen() const { return close_seen_; }

 private:
  std::size_t header_size() const;

  unsigned char header_[14] = {};  // the longest header: 2 + 8 (length) + 4 (mask)
  std::size_t header_have_ = 0;
  std::uint64_t payload_left_ = 0;
  bool lost_ = false;
  bool close_seen_ = false;
};

// An unmasked close frame (a server's), with `code` and as much of `reason` as fits (123 bytes).
std::string websocket_close_frame(std::uint16_t code, std::string_view reason);

// Close code 1001: the endpoint is going away (a drained node, a proxy shutting down).
constexpr std::uint16_t websocket_going_away = 1001;

}  // namespace drawbridge::proxy
