// The WebSocket frame cursor (proxy/websocket_frames.hpp), which tells the tunnel where a close frame of
// drawbridge's own may go into the node's byte stream.
//
// Input: byte 0 cuts the rest into reads (fuzz_support.hpp splitter); byte 1 is a close code's low byte
// and bytes 2.. are also a close reason; the rest (from byte 1 on) is the node's stream.
// Checks:
//  - frame boundaries do not depend on how the stream is cut: fed in pieces, the cursor is between frames,
//    lost or past a close at the end of each piece exactly when, fed one byte at a time, it is at that
//    offset; and advancing with stop_at_frame_end stops at exactly those frame ends;
//  - advance follows every byte it is given unless asked to stop, and never more than it is given;
//  - the close frame drawbridge sends is one whole frame, a close, of at most 127 bytes.

#include <string>
#include <vector>

#include "proxy/websocket_frames.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace drawbridge;
using namespace drawbridge::proxy;

namespace {

struct state_at {
  bool between;
  bool lost;
  bool close_seen;
  bool operator==(const state_at&) const = default;
};

state_at state_of(const websocket_frame_cursor& c) { return {c.between_frames(), c.lost(), c.close_seen()}; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const auto* stream = data + 1;
  const std::size_t length = size - 1;

  // One byte at a time: the state after each offset (index 0: before any byte).
  std::vector<state_at> by_byte;
  by_byte.reserve(length + 1);
  {
    websocket_frame_cursor cursor;
    by_byte.push_back(state_of(cursor));
    for (std::size_t i = 0; i < length; ++i) {
      FUZZ_CHECK(cursor.advance(stream + i, 1) == 1);
      by_byte.push_back(state_of(cursor));
    }
  }

  // In pieces: the same state at every piece's end.
  {
    websocket_frame_cursor cursor;
    fuzz::splitter split(data[0]);
    std::size_t at = 0;
    while (at < length) {
      const auto n = split.next(length - at);
      FUZZ_CHECK(cursor.advance(stream + at, n) == n);
      at += n;
      FUZZ_CHECK(state_of(cursor) == by_byte[at]);
    }
  }

  // Stopping at frame ends: each stop is a frame end, and no frame end is passed over.
  {
    websocket_frame_cursor cursor;
    fuzz::splitter split(data[0]);
    std::size_t at = 0;
    while (at < length) {
      const auto piece = split.next(length - at);
      const std::size_t used = cursor.advance(stream + at, piece, true);
      FUZZ_CHECK(used <= piece);
      if (used == 0) {
        // Already between frames (where the tunnel would send its close): move on by one byte, which
        // cannot end a frame (a header has two at least).
        FUZZ_CHECK(cursor.between_frames());
        FUZZ_CHECK(cursor.advance(stream + at, 1) == 1);
        at += 1;
        FUZZ_CHECK(state_of(cursor) == by_byte[at]);
        continue;
      }
      for (std::size_t i = at + 1; i < at + used; ++i) FUZZ_CHECK(!by_byte[i].between);
      at += used;
      FUZZ_CHECK(state_of(cursor) == by_byte[at]);
      if (used < piece) FUZZ_CHECK(cursor.between_frames());
    }
  }

  // Our own close frame, with the input as its reason.
  const auto code = static_cast<std::uint16_t>(1000 + data[1]);
  const auto reason = fuzz::as_text(data + 1, length);
  const auto frame = websocket_close_frame(code, reason);
  FUZZ_CHECK(frame.size() <= 127);
  websocket_frame_cursor cursor;
  FUZZ_CHECK(cursor.advance(frame.data(), frame.size()) == frame.size());
  FUZZ_CHECK(cursor.between_frames() && cursor.close_seen() && !cursor.lost());
  FUZZ_CHECK(static_cast<unsigned char>(frame[2]) * 256u + static_cast<unsigned char>(frame[3]) == code);
  return 0;
}
