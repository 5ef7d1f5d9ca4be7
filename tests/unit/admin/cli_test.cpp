#include <gtest/gtest.h>

#include "admin/admin_client.hpp"
#include "admin/cli.hpp"
#include "admin/node_json.hpp"

using namespace drawbridge::admin;

TEST(rollout_command, placeholders_are_filled_everywhere) {
  EXPECT_EQ(fill_placeholders("ssh {node} upgrade --peer {address} # {node}", "node2", "10.0.0.12:80"),
            "ssh node2 upgrade --peer 10.0.0.12:80 # node2");
  EXPECT_EQ(fill_placeholders("true", "n", "a"), "true");
  // A value containing a placeholder is not expanded again.
  EXPECT_EQ(fill_placeholders("{node}", "{node}", "x"), "{node}");
}

TEST(admin_url, host_and_port_are_taken_from_an_http_url) {
  std::string error;
  auto t = parse_admin_url("http://127.0.0.1:9901/", error);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, "9901");
  t = parse_admin_url("http://[::1]:9901", error);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "::1");
  EXPECT_FALSE(parse_admin_url("https://127.0.0.1:9901", error));
  EXPECT_NE(error.find("must start with http://"), std::string::npos);
  EXPECT_FALSE(parse_admin_url("http://127.0.0.1", error));
  EXPECT_FALSE(parse_admin_url("http://127.0.0.1:9901/v1", error));
}

TEST(node_json, times_are_rfc3339_utc_with_milliseconds) {
  EXPECT_EQ(format_utc(1'795'000'000'123), "2026-11-18T11:06:40.123Z");
  EXPECT_EQ(format_utc(0), "1970-01-01T00:00:00.000Z");
}
