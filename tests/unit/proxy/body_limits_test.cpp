#include "proxy/body_limits.hpp"

#include <gtest/gtest.h>

using namespace drawbridge::proxy;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {
const clock_type::time_point start{std::chrono::hours(1)};
}

TEST(body_read_deadline, without_a_minimum_rate_it_is_the_gap_after_now) {
  EXPECT_EQ(body_read_deadline(start, start + 90s, 0, 60s, 0), start + 150s);
}

TEST(body_read_deadline, the_grace_comes_first_whatever_was_read) {
  // Nothing read yet: the grace (20 s from the start), earlier than the gap.
  EXPECT_EQ(body_read_deadline(start, start, 0, 60s, 500), start + body_rate_grace);
  // Within the grace, a short gap still wins.
  EXPECT_EQ(body_read_deadline(start, start + 1s, 0, 5s, 500), start + 6s);
}

TEST(body_read_deadline, bytes_read_buy_time_at_the_minimum_rate) {
  // 30,000 bytes at 500 bytes/s last 60 s from the start.
  EXPECT_EQ(body_read_deadline(start, start + 25s, 30'000, 600s, 500), start + 60s);
  // 250 bytes: half a second, rounded to milliseconds.
  EXPECT_EQ(body_read_deadline(start, start + 25s, 10'250, 600s, 500), start + 20'500ms);
}

TEST(body_read_deadline, a_trickle_just_under_the_rate_runs_out_however_it_is_spread) {
  // 499 bytes/s for 100 s: the deadline is already behind, so the next read times out at once.
  EXPECT_LT(body_read_deadline(start, start + 100s, 49'900, 60s, 500), start + 100s);
  // A client keeping up with the rate always has time ahead.
  EXPECT_GT(body_read_deadline(start, start + 100s, 50'500, 60s, 500), start + 100s);
}

TEST(body_limits, the_client_buffer_holds_a_header_and_a_chunk_line_and_no_more) {
  drawbridge::conf::limits_config limits;
  limits.max_header_size = 16 * 1024;
  EXPECT_EQ(client_buffer_cap(limits, 8 * 1024), 16 * 1024 + max_chunk_extensions + 16 * 1024);
}
