#include "conf/address.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace drawbridge::conf;

TEST(addresses, parse_names_ipv4_and_bracketed_ipv6) {
  EXPECT_EQ(parse_host_port("127.0.0.1:8080"), (host_port{"127.0.0.1", 8080}));
  EXPECT_EQ(parse_host_port("appsmith-1.internal:80"), (host_port{"appsmith-1.internal", 80}));
  EXPECT_EQ(parse_host_port("appsmith_node_2:8080"), (host_port{"appsmith_node_2", 8080}));
  EXPECT_EQ(parse_host_port("[::1]:0"), (host_port{"::1", 0}));
  EXPECT_EQ(parse_host_port("[2001:db8::1]:443"), (host_port{"2001:db8::1", 443}));
  EXPECT_EQ(parse_host_port("[::ffff:10.0.0.1]:80"), (host_port{"::ffff:10.0.0.1", 80}));
  EXPECT_EQ(parse_host_port("[fe80::1%eth0]:80"), (host_port{"fe80::1%eth0", 80}));
}

TEST(addresses, refuse_what_could_not_be_written_back) {
  std::vector<std::string> bad = {"",          ":80",       "host",         "host:",    "host:65536", "host:-1",
                                  "host:80x",  "::1:80",    "[::1]",        "[::1]80",  "[]:80",      "[localhost]:80",
                                  "[[::1]:80", "[::1%]:80", "[::1%a b]:80", "ho st:80", "host/x:80",  "[host:80"};
  bad.emplace_back("a\0b:80", 6);
  bad.emplace_back("[[\x05\0b+\x10\0\0\0]:844", 15);  // found by fuzz_config_files: '[' inside the brackets
  for (const auto& text : bad) EXPECT_FALSE(parse_host_port(text).has_value()) << text;
}

TEST(addresses, print_what_parses_back_to_the_same_address) {
  for (const char* text : {"127.0.0.1:8080", "node-1:80", "[::1]:0", "[fe80::1%eth0]:65535"}) {
    const auto hp = parse_host_port(text);
    ASSERT_TRUE(hp.has_value()) << text;
    EXPECT_EQ(to_string(*hp), text);
    EXPECT_EQ(parse_host_port(to_string(*hp)), hp);
  }
}
