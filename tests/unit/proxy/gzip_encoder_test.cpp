// The gzip codec on its own: round trips whatever the input and however it is fed.

#include "proxy/gzip_encoder.hpp"

#include <gtest/gtest.h>

#include <random>

using namespace drawbridge::proxy;

namespace {

std::string json_like(std::size_t size) {
  std::string out;
  for (std::size_t i = 0; out.size() < size; ++i)
    out += "{\"id\":" + std::to_string(i) + ",\"name\":\"widget " + std::to_string(i % 97) + "\",\"ok\":true},";
  out.resize(size);
  return out;
}

}  // namespace

TEST(gzip_encoder, an_empty_body_is_a_valid_gzip_stream) {
  const auto z = gzip_compress("", 1);
  EXPECT_GE(z.size(), 18u);  // header and trailer
  EXPECT_EQ(static_cast<unsigned char>(z[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(z[1]), 0x8b);
  std::string back = "x";
  back.clear();
  ASSERT_TRUE(gzip_decompress(z, back));
  EXPECT_TRUE(back.empty());
}

TEST(gzip_encoder, a_large_body_round_trips_and_shrinks) {
  const auto body = json_like(4 * 1024 * 1024 + 17);
  for (const int level : {1, 6, 9}) {
    const auto z = gzip_compress(body, level);
    EXPECT_LT(z.size(), body.size() / 4) << level;
    std::string back;
    ASSERT_TRUE(gzip_decompress(z, back)) << level;
    EXPECT_EQ(back, body) << level;
  }
}

TEST(gzip_encoder, many_small_pieces_with_every_flush_mode_round_trip) {
  const auto body = json_like(200 * 1000);
  gzip_encoder encoder(1);
  std::string out;
  std::mt19937 random(7);
  std::size_t at = 0;
  int piece = 0;
  while (at < body.size()) {
    const std::size_t n = std::min<std::size_t>(random() % 700, body.size() - at);
    const auto mode = ++piece % 5 == 0 ? gzip_encoder::flush::sync : gzip_encoder::flush::none;
    encoder.compress(std::string_view(body).substr(at, n), mode, out);
    at += n;
  }
  encoder.compress({}, gzip_encoder::flush::finish, out);
  EXPECT_EQ(encoder.bytes_in(), body.size());
  EXPECT_EQ(encoder.bytes_out(), out.size());
  std::string back;
  ASSERT_TRUE(gzip_decompress(out, back));
  EXPECT_EQ(back, body);
}

TEST(gzip_encoder, a_sync_flush_makes_everything_so_far_decodable) {
  gzip_encoder encoder(1);
  std::string out;
  encoder.compress("{\"event\":\"first\"}", gzip_encoder::flush::sync, out);
  // Inflate what came out so far without the end of the stream: all of the first event is there.
  std::string partial;
  EXPECT_FALSE(gzip_decompress(out, partial));  // not finished yet...
  EXPECT_EQ(partial, "{\"event\":\"first\"}");  // ...but nothing was held back
}

TEST(gzip_encoder, a_truncated_or_corrupt_stream_is_refused) {
  const auto z = gzip_compress(json_like(10000), 1);
  std::string out;
  EXPECT_FALSE(gzip_decompress(z.substr(0, z.size() - 5), out));
  auto corrupt = z;
  corrupt[z.size() / 2] ^= 0x55;
  out.clear();
  EXPECT_FALSE(gzip_decompress(corrupt, out));
  EXPECT_THROW(
      {
        gzip_encoder e(1);
        std::string o;
        e.compress("a", gzip_encoder::flush::finish, o);
        e.compress("b", gzip_encoder::flush::none, o);
      },
      std::logic_error);
}
