// drawbridge's own DEFLATE encoder: whatever the input, zlib decodes it back exactly (gzip framing and CRC
// included), it shrinks what repeats, and it never grows what does not by more than the stored framing.

#include "proxy/deflate_fast.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "proxy/gzip_encoder.hpp"

using namespace drawbridge::proxy;

namespace {

std::string round_trip(const std::string& in) {
  std::string z;
  gzip_fast(in, z);
  std::string back;
  EXPECT_TRUE(gzip_decompress(z, back)) << "input of " << in.size() << " bytes";
  return back;
}

std::string json_like(std::size_t size) {
  std::string out;
  for (std::size_t i = 0; out.size() < size; ++i)
    out += "{\"id\":" + std::to_string(i * 7919 % 100003) + ",\"name\":\"widget " + std::to_string(i % 97) +
           "\",\"ok\":" + (i % 3 ? "true" : "false") + "},";
  out.resize(size);
  return out;
}

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

}  // namespace

TEST(deflate_fast, empty_and_tiny_inputs_round_trip) {
  for (const std::string& in : {std::string(), std::string("a"), std::string("ab"), std::string("abc"),
                                std::string("abcd"), std::string("aaaaa"), std::string(3, '\xff')})
    EXPECT_EQ(round_trip(in), in);
}

TEST(deflate_fast, json_shrinks_several_times_and_round_trips) {
  for (const std::size_t size : {100u, 1000u, 32947u, 65536u, 300000u}) {
    const auto in = json_like(size);
    std::string z;
    gzip_fast(in, z);
    if (size >= 32947) {
      EXPECT_LT(z.size() * 4, in.size()) << size;  // a sizeable JSON body shrinks fourfold or more
    }
    EXPECT_EQ(round_trip(in), in);
  }
}

TEST(deflate_fast, long_runs_and_every_match_length_and_distance_round_trip) {
  EXPECT_EQ(round_trip(std::string(100000, '\0')), std::string(100000, '\0'));  // distance 1, overlapping
  // A random block repeated at distances up to the window's edge and just past it, with each length.
  const auto block = random_bytes(300, 7);
  for (const std::size_t gap : {1u, 2u, 255u, 256u, 257u, 4096u, 32000u, 32468u, 32768u, 40000u}) {
    for (const std::size_t length : {3u, 4u, 5u, 10u, 130u, 257u, 258u, 259u, 300u}) {
      std::string in =
          block.substr(0, length) + random_bytes(gap, static_cast<unsigned>(gap)) + block.substr(0, length);
      EXPECT_EQ(round_trip(in), in) << "gap " << gap << ", length " << length;
    }
  }
}

TEST(deflate_fast, random_input_is_stored_and_barely_grows) {
  for (const std::size_t size : {10u, 1000u, 65535u, 65536u, 200000u}) {
    const auto in = random_bytes(size, static_cast<unsigned>(size));
    std::string z;
    gzip_fast(in, z);
    EXPECT_LE(z.size(), in.size() + 18 + 5 * (size / 65535 + 1)) << size;
    EXPECT_EQ(round_trip(in), in);
  }
}

TEST(deflate_fast, mixed_and_repeated_calls_on_one_thread_stay_correct) {
  // The match table outlives each call: stale entries from an earlier input must never be used.
  std::mt19937 rng(42);
  for (int i = 0; i < 300; ++i) {
    std::string in;
    while (in.size() < rng() % 20000) {
      switch (rng() % 3) {
        case 0:
          in += json_like(rng() % 2000);
          break;
        case 1:
          in += random_bytes(rng() % 500, rng());
          break;
        default:
          in += std::string(rng() % 400, static_cast<char>(rng()));
          break;
      }
    }
    ASSERT_EQ(round_trip(in), in) << "call " << i;
  }
}

TEST(deflate_fast, the_output_never_exceeds_the_bound) {
  for (const std::size_t size : {0u, 1u, 100u, 65535u, 70000u}) {
    for (const auto& in : {random_bytes(size, 3), json_like(size), std::string(size, 'x')}) {
      std::string out(deflate_fast_bound(in.size()), '\0');
      EXPECT_LE(deflate_fast(in, reinterpret_cast<unsigned char*>(out.data())), out.size());
    }
  }
}
