#include "proxy/connections_per_address.hpp"

#include <gtest/gtest.h>

using drawbridge::proxy::connections_per_address;
namespace ip = boost::asio::ip;

TEST(connections_per_address, counts_each_address_up_to_the_limit) {
  connections_per_address table(2);
  const auto a = ip::make_address("192.0.2.1");
  const auto b = ip::make_address("2001:db8::1");
  EXPECT_TRUE(table.try_open(a));
  EXPECT_TRUE(table.try_open(a));
  EXPECT_FALSE(table.try_open(a));
  EXPECT_TRUE(table.try_open(b));  // another address has its own share
  EXPECT_EQ(table.open(a), 2u);
  table.close(a);
  EXPECT_TRUE(table.try_open(a));
}

TEST(connections_per_address, an_ipv4_mapped_address_counts_as_its_ipv4_address) {
  connections_per_address table(1);
  EXPECT_TRUE(table.try_open(ip::make_address("192.0.2.7")));
  EXPECT_FALSE(table.try_open(ip::make_address("::ffff:192.0.2.7")));
  table.close(ip::make_address("::ffff:192.0.2.7"));
  EXPECT_EQ(table.open(ip::make_address("192.0.2.7")), 0u);
}

TEST(connections_per_address, a_refused_address_leaves_no_entry_and_closing_an_unknown_one_is_harmless) {
  connections_per_address table(1);
  const auto a = ip::make_address("192.0.2.9");
  table.close(a);
  EXPECT_EQ(table.open(a), 0u);
  EXPECT_TRUE(table.try_open(a));
  EXPECT_FALSE(table.try_open(a));
  EXPECT_EQ(table.open(a), 1u);
}

TEST(connections_per_address, ipv6_addresses_count_by_their_64_bit_prefix) {
  connections_per_address table(1);
  EXPECT_TRUE(table.try_open(ip::make_address("2001:db8:1:2::1")));
  EXPECT_FALSE(table.try_open(ip::make_address("2001:db8:1:2:ffff::9")));  // same /64
  EXPECT_TRUE(table.try_open(ip::make_address("2001:db8:1:3::1")));        // another /64
}
