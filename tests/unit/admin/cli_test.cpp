#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

#include "admin/admin_client.hpp"
#include "admin/cli.hpp"
#include "admin/node_json.hpp"
#include "tests/support/scratch_dir.hpp"

using namespace drawbridge::admin;

TEST(rollout_command, placeholders_are_filled_everywhere_as_single_quoted_words) {
  EXPECT_EQ(fill_placeholders("ssh {node} upgrade --peer {address} # {node}", "node2", "10.0.0.12:80"),
            "ssh 'node2' upgrade --peer '10.0.0.12:80' # 'node2'");
  EXPECT_EQ(fill_placeholders("true", "n", "a"), "true");
  // A value containing a placeholder is not expanded again.
  EXPECT_EQ(fill_placeholders("{node}", "{node}", "x"), "'{node}'");
  EXPECT_EQ(fill_placeholders("echo {node}", "it's", "x"), R"(echo 'it'\''s')");
  EXPECT_EQ(shell_quote(""), "''");
}

TEST(rollout_command, a_hostile_node_name_runs_nothing_and_reaches_the_command_intact) {
  const drawbridge::testing::scratch_dir dir;
  const std::string marker = dir.file("owned");
  const std::string node = "a;touch " + marker + ";'$(touch " + marker + ")'`touch " + marker + "`";
  const std::string address = "[::1]:80 $(touch " + marker + ")";
  const auto command = fill_placeholders(
      R"(printf '%s\n' {node} {address} "$DRAWBRIDGE_NODE" "$DRAWBRIDGE_ADDRESS" "$DRAWBRIDGE_UPSTREAM")", node,
      address);
  testing::internal::CaptureStdout();
  const int status = run_node_command({command, node, address, "app"}, "| ");
  const auto out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(status, 0);
  EXPECT_FALSE(std::filesystem::exists(marker)) << out;
  EXPECT_EQ(out, "| " + node + "\n| " + address + "\n| " + node + "\n| " + address + "\n| app\n");
}

TEST(rollout_command, the_environment_variables_replace_inherited_ones) {
  ::setenv("DRAWBRIDGE_NODE", "stale", 1);
  testing::internal::CaptureStdout();
  const int status = run_node_command({"echo \"$DRAWBRIDGE_NODE\"; exit 4", "fresh", "h:1", "u"}, "");
  const auto out = testing::internal::GetCapturedStdout();
  ::unsetenv("DRAWBRIDGE_NODE");
  EXPECT_EQ(status, 4);
  EXPECT_EQ(out, "fresh\n");
}

TEST(admin_client, names_are_percent_encoded_in_paths_and_ipv6_hosts_bracketed) {
  EXPECT_EQ(encode_path_segment("node-1_a.b~"), "node-1_a.b~");
  EXPECT_EQ(encode_path_segment("a;b /c%"), "a%3Bb%20%2Fc%25");
  EXPECT_EQ(host_field({"127.0.0.1", "9901"}), "127.0.0.1:9901");
  EXPECT_EQ(host_field({"::1", "9901"}), "[::1]:9901");
  EXPECT_EQ(host_field({"localhost", "9901"}), "localhost:9901");
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
