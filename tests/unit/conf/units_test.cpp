#include "conf/units.hpp"

#include <gtest/gtest.h>

using namespace drawbridge::conf;
using namespace std::chrono_literals;

TEST(durations, parse_every_unit) {
  EXPECT_EQ(parse_duration("250ms"), duration(250));
  EXPECT_EQ(parse_duration("30s"), duration(30s));
  EXPECT_EQ(parse_duration("5m"), duration(5min));
  EXPECT_EQ(parse_duration("1h"), duration(1h));
  EXPECT_EQ(parse_duration("30d"), duration(720h));
  EXPECT_EQ(parse_duration("0s"), duration(0));
}

TEST(durations, refuse_missing_unit_sign_fraction_and_junk) {
  for (const char* bad : {"", "30", "s", "-5s", "1.5s", "30 s", "30sec", "5D", "5days", "ms", "1e3ms", " 30s"})
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
}

TEST(durations, refuse_values_that_would_overflow_deadlines) {
  EXPECT_FALSE(parse_duration("99999999999999999999h").has_value());
  EXPECT_FALSE(parse_duration("1000000h").has_value());
}

TEST(durations, format_picks_the_largest_exact_unit) {
  EXPECT_EQ(format_duration(duration(250)), "250ms");
  EXPECT_EQ(format_duration(duration(30s)), "30s");
  EXPECT_EQ(format_duration(duration(5min)), "5m");
  EXPECT_EQ(format_duration(duration(2h)), "2h");
  EXPECT_EQ(format_duration(duration(90s)), "90s");
}

TEST(sizes, parse_bytes_and_binary_multiples) {
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("1024"), 1024u);
  EXPECT_EQ(parse_size("16k"), 16u * 1024);
  EXPECT_EQ(parse_size("16K"), 16u * 1024);
  EXPECT_EQ(parse_size("150m"), 150ull << 20);
  EXPECT_EQ(parse_size("1g"), 1ull << 30);
}

TEST(sizes, refuse_junk_and_overflow) {
  for (const char* bad : {"", "k", "-1", "1.5m", "16kb", "16 k", "1t", "99999999999999999999", "17179869184g"})
    EXPECT_FALSE(parse_size(bad).has_value()) << bad;
}

TEST(sizes, format_picks_the_largest_exact_unit) {
  EXPECT_EQ(format_size(1000), "1000");
  EXPECT_EQ(format_size(16 * 1024), "16k");
  EXPECT_EQ(format_size(150ull << 20), "150m");
  EXPECT_EQ(format_size(1ull << 30), "1g");
}
