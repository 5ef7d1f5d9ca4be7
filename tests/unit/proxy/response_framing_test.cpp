#include "proxy/response_framing.hpp"

#include <gtest/gtest.h>

using namespace drawbridge::proxy;

TEST(response_framing, a_known_length_passes_through_and_keeps_the_connection) {
  const auto c = choose_framing({.client_version = 10, .length = 42, .keep_alive = true});
  EXPECT_EQ(c.framing, body_framing::length);
  EXPECT_EQ(c.length, 42u);
  EXPECT_TRUE(c.keep_alive);
}

TEST(response_framing, an_unknown_or_rewritten_length_is_chunked_to_http_1_1) {
  EXPECT_EQ(choose_framing({.client_version = 11}).framing, body_framing::chunked);
  const auto gzipped = choose_framing({.client_version = 11, .body_rewritten = true, .length = 42});
  EXPECT_EQ(gzipped.framing, body_framing::chunked);
  EXPECT_TRUE(gzipped.keep_alive);
}

TEST(response_framing, http_1_0_learns_the_end_of_such_a_body_from_the_close) {
  const auto c = choose_framing({.client_version = 10, .body_rewritten = true, .length = 42, .keep_alive = true});
  EXPECT_EQ(c.framing, body_framing::until_close);
  EXPECT_FALSE(c.keep_alive);
}

TEST(response_framing, a_header_only_answer_keeps_its_framing_fields) {
  const auto c = choose_framing({.client_version = 10, .header_only = true, .keep_alive = true});
  EXPECT_EQ(c.framing, body_framing::none);
  EXPECT_TRUE(c.keep_alive);
  EXPECT_FALSE(choose_framing({.header_only = true, .keep_alive = false}).keep_alive);
}
