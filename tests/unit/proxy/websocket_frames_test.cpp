// Frame ends in a WebSocket byte stream, however the stream is cut into reads, and the close frame.

#include "proxy/websocket_frames.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace drawbridge::proxy;

namespace {

// One frame as a node (unmasked) or a client (masked) would send it.
std::string frame(std::uint8_t opcode, std::size_t payload_size, bool fin = true, bool masked = false) {
  std::string out;
  out.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
  const char mask_bit = masked ? static_cast<char>(0x80) : 0;
  if (payload_size < 126) {
    out.push_back(static_cast<char>(mask_bit | payload_size));
  } else if (payload_size <= 0xffff) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(payload_size >> 8));
    out.push_back(static_cast<char>(payload_size & 0xff));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((payload_size >> shift) & 0xff));
  }
  if (masked) out += "\x11\x22\x33\x44";
  out.append(payload_size, 'p');
  return out;
}

// Feeds `stream` in pieces of `step` bytes and returns each offset at which the cursor was between frames
// after a piece.
std::vector<std::size_t> boundaries_seen(const std::string& stream, std::size_t step) {
  websocket_frame_cursor cursor;
  std::vector<std::size_t> seen;
  for (std::size_t at = 0; at < stream.size(); at += step) {
    const auto n = std::min(step, stream.size() - at);
    EXPECT_EQ(cursor.advance(stream.data() + at, n), n);
    if (cursor.between_frames()) seen.push_back(at + n);
  }
  return seen;
}

}  // namespace

TEST(websocket_frames, a_fresh_cursor_is_between_frames) {
  websocket_frame_cursor cursor;
  EXPECT_TRUE(cursor.between_frames());
  EXPECT_EQ(cursor.advance("", 0, true), 0u);
}

TEST(websocket_frames, each_length_form_is_followed_to_the_end_of_its_frame) {
  for (const std::size_t size : {0u, 1u, 125u, 126u, 1000u, 65535u, 65536u, 300000u}) {
    const auto f = frame(0x2, size);
    websocket_frame_cursor cursor;
    EXPECT_EQ(cursor.advance(f.data(), f.size() - 1), f.size() - 1) << size;
    EXPECT_FALSE(cursor.between_frames()) << size;  // one byte short
    EXPECT_EQ(cursor.advance(f.data() + f.size() - 1, 1), 1u);
    EXPECT_TRUE(cursor.between_frames()) << size;
  }
}

TEST(websocket_frames, frame_ends_are_found_however_the_stream_is_split) {
  // Text, a ping between two fragments of a message, a masked frame, an empty frame, a long binary one.
  const std::string parts[] = {frame(0x1, 10),    frame(0x1, 300, false),    frame(0x9, 4),
                               frame(0x0, 70000), frame(0x2, 5, true, true), frame(0x1, 0),
                               frame(0x2, 70000)};
  std::string stream;
  std::vector<std::size_t> ends;
  for (const auto& p : parts) {
    stream += p;
    ends.push_back(stream.size());
  }
  // Byte by byte, every frame end is seen and nothing else is.
  EXPECT_EQ(boundaries_seen(stream, 1), ends);
  // In pieces of any size, the cursor is between frames exactly when a piece ends at a frame end.
  for (const std::size_t step : {2u, 3u, 7u, 100u, 4096u, 16384u}) {
    std::vector<std::size_t> expected;
    for (const auto e : ends)
      if (e % step == 0 || e == stream.size()) expected.push_back(e);
    EXPECT_EQ(boundaries_seen(stream, step), expected) << step;
  }
}

TEST(websocket_frames, stopping_at_a_frame_end_takes_no_byte_of_the_next_frame) {
  const auto first = frame(0x1, 1000);
  const auto second = frame(0x2, 20);
  const auto stream = first + second;
  websocket_frame_cursor cursor;
  ASSERT_EQ(cursor.advance(stream.data(), 10), 10u);  // now inside the first frame
  EXPECT_EQ(cursor.advance(stream.data() + 10, stream.size() - 10, true), first.size() - 10);
  EXPECT_TRUE(cursor.between_frames());
  // Already between frames: nothing more is taken.
  EXPECT_EQ(cursor.advance(second.data(), second.size(), true), 0u);
  // Without stopping, the next frame is followed whole.
  EXPECT_EQ(cursor.advance(second.data(), second.size()), second.size());
  EXPECT_TRUE(cursor.between_frames());
}

TEST(websocket_frames, a_frame_end_inside_a_split_header_is_found) {
  const auto f = frame(0x2, 70000);  // a 10-byte header
  const auto stream = f + frame(0x1, 1);
  websocket_frame_cursor cursor;
  EXPECT_EQ(cursor.advance(stream.data(), 5), 5u);  // half a header: inside the frame from here on
  EXPECT_FALSE(cursor.between_frames());
  EXPECT_EQ(cursor.advance(stream.data() + 5, stream.size() - 5, true), f.size() - 5);  // not into the next
  EXPECT_TRUE(cursor.between_frames());
}

TEST(websocket_frames, a_length_beyond_two_to_the_63_loses_the_frame_ends) {
  std::string bad = "\x82\x7f";
  bad += std::string("\x80\0\0\0\0\0\0\0", 8);
  websocket_frame_cursor cursor;
  EXPECT_EQ(cursor.advance(bad.data(), bad.size()), bad.size());
  EXPECT_TRUE(cursor.lost());
  EXPECT_FALSE(cursor.between_frames());
  EXPECT_EQ(cursor.advance("abc", 3, true), 3u);  // everything passes on; no frame end is ever claimed
  EXPECT_FALSE(cursor.between_frames());
}

TEST(websocket_frames, the_close_frame_carries_the_code_and_a_bounded_reason) {
  const auto f = websocket_close_frame(websocket_going_away, "node drained");
  ASSERT_EQ(f.size(), 4u + 12u);
  EXPECT_EQ(static_cast<unsigned char>(f[0]), 0x88);
  EXPECT_EQ(static_cast<unsigned char>(f[1]), 14u);   // unmasked, code + reason
  EXPECT_EQ(static_cast<unsigned char>(f[2]), 0x03);  // 1001
  EXPECT_EQ(static_cast<unsigned char>(f[3]), 0xe9);
  EXPECT_EQ(f.substr(4), "node drained");
  const auto longest = websocket_close_frame(1001, std::string(500, 'r'));
  EXPECT_EQ(longest.size(), 2u + 125u);
  EXPECT_EQ(static_cast<unsigned char>(longest[1]), 125u);
  websocket_frame_cursor cursor;
  EXPECT_EQ(cursor.advance(longest.data(), longest.size()), longest.size());
  EXPECT_TRUE(cursor.between_frames());
}

TEST(websocket_frames, a_close_frame_from_the_sender_is_noticed) {
  websocket_frame_cursor cursor;
  const auto text = frame(0x1, 10);
  cursor.advance(text.data(), text.size());
  EXPECT_FALSE(cursor.close_seen());
  const auto close = websocket_close_frame(1000, "bye");
  cursor.advance(close.data(), 1);  // the opcode alone is not yet a header
  cursor.advance(close.data() + 1, close.size() - 1);
  EXPECT_TRUE(cursor.close_seen());
  EXPECT_TRUE(cursor.between_frames());
}
