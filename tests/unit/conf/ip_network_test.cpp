#include "conf/ip_network.hpp"

#include <gtest/gtest.h>

#include <array>

using namespace drawbridge::conf;

namespace {
std::array<std::uint8_t, 4> v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) { return {a, b, c, d}; }
}  // namespace

TEST(ip_network, a_bare_address_stands_for_itself_alone) {
  const auto n = parse_ip_network("127.0.0.1");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->prefix, 32u);
  EXPECT_TRUE(n->contains(v4(127, 0, 0, 1)));
  EXPECT_FALSE(n->contains(v4(127, 0, 0, 2)));
  EXPECT_EQ(parse_ip_network("::1")->prefix, 128u);
}

TEST(ip_network, prefixes_match_whole_and_partial_bytes) {
  const auto eight = *parse_ip_network("10.0.0.0/8");
  EXPECT_TRUE(eight.contains(v4(10, 255, 1, 2)));
  EXPECT_FALSE(eight.contains(v4(11, 0, 0, 0)));
  const auto twelve = *parse_ip_network("172.16.0.0/12");
  EXPECT_TRUE(twelve.contains(v4(172, 31, 255, 255)));
  EXPECT_FALSE(twelve.contains(v4(172, 32, 0, 0)));
  const auto all = *parse_ip_network("0.0.0.0/0");
  EXPECT_TRUE(all.contains(v4(203, 0, 113, 9)));
}

TEST(ip_network, host_bits_are_cleared_and_families_do_not_mix) {
  const auto n = *parse_ip_network("10.1.2.3/8");
  EXPECT_EQ(to_string(n), "10.0.0.0/8");
  const auto v6 = *parse_ip_network("fd00::/8");
  std::array<std::uint8_t, 16> address{};
  address[0] = 0xfd;
  address[15] = 1;
  EXPECT_TRUE(v6.contains(address));
  EXPECT_FALSE(v6.contains(v4(253, 0, 0, 1)));
  EXPECT_FALSE(n.contains(address));
}

TEST(ip_network, anything_but_an_address_and_a_prefix_in_range_is_refused) {
  for (const char* bad : {"", "x", "1.2.3", "10.0.0.0/", "10.0.0.0/33", "::1/129", "10.0.0.0/-1", "10.0.0.0/8/8",
                          "10.0.0.0 /8", "fe80::1%eth0", "localhost", "10.0.0.0/1000"})
    EXPECT_FALSE(parse_ip_network(bad)) << bad;
}
