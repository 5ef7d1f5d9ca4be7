// The three content codings on their own (zstd, br, gzip): every way of feeding an encoder decodes back to
// the input, a sync flush makes what came so far decodable, and broken streams are refused.

#include "proxy/body_encoder.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using namespace drawbridge::proxy;

namespace {

std::string json_like(std::size_t size) {
  std::string out;
  for (std::size_t i = 0; out.size() < size; ++i)
    out += "{\"id\":" + std::to_string(i) + ",\"name\":\"widget " + std::to_string(i % 97) + "\",\"ok\":true},";
  out.resize(size);
  return out;
}

// Each coding at the level the config gives it by default.
struct coding_case {
  content_coding coding;
  int level;
};
const coding_case cases[] = {{content_coding::zstd, 3}, {content_coding::br, 4}, {content_coding::gzip, 1}};

std::string name_of(const coding_case& c) { return std::string(coding_token(c.coding)); }

}  // namespace

TEST(body_encoder, whole_and_streamed_bodies_round_trip_and_shrink_in_every_coding) {
  const auto body = json_like(300000);
  for (const auto& c : cases) {
    SCOPED_TRACE(name_of(c));
    std::string whole = "prefix kept";  // encode_whole appends
    encode_whole(c.coding, c.level, body, whole);
    ASSERT_EQ(whole.substr(0, 11), "prefix kept");
    whole.erase(0, 11);
    EXPECT_LT(whole.size(), body.size() / 5);
    std::string back;
    ASSERT_TRUE(decode_whole(c.coding, whole, back));
    EXPECT_EQ(back, body);

    // Streamed in uneven pieces, with a sync flush now and then, as a relayed body is.
    auto encoder = make_body_encoder(c.coding, c.level);
    std::string streamed;
    std::mt19937 rng(7);
    std::size_t at = 0;
    for (int piece = 1; at < body.size(); ++piece) {
      const std::size_t n = std::min<std::size_t>(body.size() - at, rng() % 9000);
      encoder->compress(std::string_view(body).substr(at, n),
                        piece % 7 == 0 ? body_encoder::flush::sync : body_encoder::flush::none, streamed);
      at += n;
    }
    encoder->compress({}, body_encoder::flush::finish, streamed);
    back.clear();
    ASSERT_TRUE(decode_whole(c.coding, streamed, back));
    EXPECT_EQ(back, body);
  }
}

// zstd keeps streaming contexts for the thread's next encoders (zstd_encoder.cpp): one abandoned in the
// middle of a frame, or used at another level, must leave nothing behind in the next stream.
TEST(body_encoder, a_reused_zstd_context_starts_each_stream_afresh) {
  const auto first = json_like(100000);
  const auto second = json_like(70000).replace(0, 5, "other");
  {
    auto abandoned = make_body_encoder(content_coding::zstd, 19);
    std::string partial;
    abandoned->compress(first, body_encoder::flush::none, partial);
  }  // dropped mid-frame, as when the client goes away
  std::string previous_level_3;
  for (const int level : {1, 3, 9, 3}) {
    SCOPED_TRACE(level);
    auto encoder = make_body_encoder(content_coding::zstd, level);
    std::string streamed;
    encoder->compress(second, body_encoder::flush::sync, streamed);
    encoder->compress(first, body_encoder::flush::finish, streamed);
    std::string back;
    ASSERT_TRUE(decode_whole(content_coding::zstd, streamed, back));
    EXPECT_EQ(back, second + first);
    // Decoding cannot tell a level left over from the last stream; the bytes can: a level-3 stream after a
    // level-1 one and after a level-9 one must be the same.
    if (level == 3) {
      if (!previous_level_3.empty()) {
        EXPECT_EQ(streamed, previous_level_3);
      }
      previous_level_3 = streamed;
    }
  }
  // Three alive at once: more than the two a thread keeps, so one is freed when they go.
  std::vector<std::unique_ptr<body_encoder>> encoders(3);
  for (auto& encoder : encoders) encoder = make_body_encoder(content_coding::zstd, 3);
  for (auto& encoder : encoders) {
    std::string out;
    encoder->compress(second, body_encoder::flush::finish, out);
    std::string back;
    ASSERT_TRUE(decode_whole(content_coding::zstd, out, back));
    EXPECT_EQ(back, second);
  }
}

// A decoder that fills its output chunk (16 KiB) exactly as the stream ends must still see the end.
TEST(body_encoder, bodies_of_exact_multiples_of_the_decoders_chunk_round_trip) {
  for (const auto& c : cases) {
    SCOPED_TRACE(name_of(c));
    for (const std::size_t size : {16384u, 32768u, 65536u, 16383u, 16385u}) {
      SCOPED_TRACE(size);
      const auto body = json_like(size);
      std::string z, back;
      encode_whole(c.coding, c.level, body, z);
      ASSERT_TRUE(decode_whole(c.coding, z, back));
      EXPECT_EQ(back, body);
    }
  }
}

TEST(body_encoder, an_empty_body_is_a_valid_stream_in_every_coding) {
  for (const auto& c : cases) {
    SCOPED_TRACE(name_of(c));
    std::string whole, streamed, back;
    encode_whole(c.coding, c.level, "", whole);
    EXPECT_FALSE(whole.empty());
    ASSERT_TRUE(decode_whole(c.coding, whole, back));
    EXPECT_TRUE(back.empty());
    make_body_encoder(c.coding, c.level)->compress({}, body_encoder::flush::finish, streamed);
    ASSERT_TRUE(decode_whole(c.coding, streamed, back));
    EXPECT_TRUE(back.empty());
  }
}

// A node that pauses (long poll, server-sent events): after a sync flush, everything given so far must be
// decodable by the client before the stream ends.
TEST(body_encoder, a_sync_flush_makes_everything_so_far_decodable_in_every_coding) {
  for (const auto& c : cases) {
    SCOPED_TRACE(name_of(c));
    auto encoder = make_body_encoder(c.coding, c.level);
    std::string out;
    encoder->compress("{\"event\":\"first\"}", body_encoder::flush::sync, out);
    ASSERT_FALSE(out.empty());
    // Not a finished stream, so decode_whole refuses it; decoding the bytes so far must still give the event.
    std::string partial;
    EXPECT_FALSE(decode_whole(c.coding, out, partial));
    EXPECT_EQ(partial, "{\"event\":\"first\"}");
    encoder->compress("{\"event\":\"second\"}", body_encoder::flush::finish, out);
    std::string back;
    ASSERT_TRUE(decode_whole(c.coding, out, back));
    EXPECT_EQ(back, "{\"event\":\"first\"}{\"event\":\"second\"}");
  }
}

TEST(body_encoder, truncated_corrupt_or_oversized_streams_are_refused_and_input_after_the_end_throws) {
  const auto body = json_like(50000);
  for (const auto& c : cases) {
    SCOPED_TRACE(name_of(c));
    std::string z;
    encode_whole(c.coding, c.level, body, z);
    std::string back;
    EXPECT_FALSE(decode_whole(c.coding, z.substr(0, z.size() / 2), back));
    std::string corrupt = z;
    for (std::size_t i = corrupt.size() / 3; i < corrupt.size() / 3 + 16; ++i)
      corrupt[i] = static_cast<char>(~corrupt[i]);
    back.clear();
    EXPECT_FALSE(decode_whole(c.coding, corrupt, back) && back == body);
    back.clear();
    EXPECT_FALSE(decode_whole(c.coding, z, back, body.size() - 1));  // the bound on what it decodes to
    EXPECT_FALSE(decode_whole(c.coding, "not an encoded body at all", back));

    auto encoder = make_body_encoder(c.coding, c.level);
    std::string out;
    encoder->compress("a", body_encoder::flush::finish, out);
    EXPECT_THROW(encoder->compress("b", body_encoder::flush::none, out), std::logic_error);
    EXPECT_NO_THROW(encoder->compress({}, body_encoder::flush::finish, out));  // an empty call after the end is fine
  }
}
