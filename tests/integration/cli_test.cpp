// The command line: check, serve's start-up errors, --version and --help; nodes, drain and undrain with
// several --admin URLs (replicas without shared state).

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge::testing;
namespace http = boost::beast::http;
using json = nlohmann::json;

TEST(cli, check_accepts_the_shipped_configs) {
  for (const char* name :
       {"/conf/drawbridge.json", "/conf/demo.json", "/conf/demo-versions.json", "/conf/demo-https.json"}) {
    const auto r = run_drawbridge({"check", "--config", std::string(DRAWBRIDGE_SOURCE_DIR) + name});
    EXPECT_EQ(r.exit_code, 0) << r.out;
    EXPECT_NE(r.out.find(": ok"), std::string::npos) << r.out;
  }
}

TEST(cli, check_lists_each_problem_with_its_json_path_and_exits_2) {
  const auto path = write_temp_file(R"({"workers": -1, "upstreams":[{"name":"a","nodes":[
    {"name":"n0","address":"10.0.0.6:80"},{"name":"n1","address":"10.0.0.7"}]}]})");
  const auto r = run_drawbridge({"check", "--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("upstreams[0].nodes[1].address: expected host:port, got \"10.0.0.7\"\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("workers: expected an integer from 0 to 256, got -1\n"), std::string::npos) << r.out;
  std::remove(path.c_str());
}

TEST(cli, unreadable_config_stops_start_up_naming_the_file) {
  const auto r = run_drawbridge({"serve", "--config", "/nonexistent/x.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("/nonexistent/x.json: cannot read the config file"), std::string::npos) << r.out;
}

TEST(cli, unresolvable_node_stops_start_up_naming_the_json_path) {
  const auto path = write_temp_file(R"({"listeners":[{"address":"127.0.0.1:0"}],
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"no-such-host.invalid:80"}]}]})");
  const auto r = run_drawbridge({"serve", "--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("upstreams[0].nodes[0].address: cannot resolve \"no-such-host.invalid\""), std::string::npos)
      << r.out;
  std::remove(path.c_str());
}

TEST(cli, port_in_use_stops_start_up_with_a_clear_error) {
  // Hold a port without SO_REUSEPORT, as another program would.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor holder(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = holder.local_endpoint().port();
  const auto path =
      write_temp_file(R"({"listeners":[{"address":"127.0.0.1:)" + std::to_string(port) +
                      R"("}], "upstreams":[{"name":"a","nodes":[{"name":"n","address":"127.0.0.1:1"}]}]})");
  const auto r = run_drawbridge({"serve", "--config", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("listeners[0].address: cannot listen on 127.0.0.1:" + std::to_string(port) +
                       ": Address already in use"),
            std::string::npos)
      << r.out;
  std::remove(path.c_str());
}

TEST(cli, an_admin_port_in_use_stops_start_up_naming_admin_address) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor holder(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = holder.local_endpoint().port();
  const auto path = write_temp_file(R"({"listeners":[{"address":"127.0.0.1:0"}],
    "admin":{"address":"127.0.0.1:)" +
                                    std::to_string(port) + R"("},
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"127.0.0.1:1"}]}]})");
  const auto r = run_drawbridge({"serve", "--config", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("admin.address: cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << r.out;
  std::remove(path.c_str());
}

TEST(cli, a_missing_token_file_or_a_broken_state_file_stops_start_up) {
  const auto path = write_temp_file(R"({"listeners":[{"address":"127.0.0.1:0"}],
    "admin":{"address":"127.0.0.1:0","token_file":"/nonexistent/tokens"},
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"127.0.0.1:1"}]}]})");
  auto r = run_drawbridge({"serve", "--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("admin.token_file: cannot read \"/nonexistent/tokens\""), std::string::npos) << r.out;
  const auto state = write_temp_file("{ not json", ".state");
  const auto with_state =
      write_temp_file(R"({"listeners":[{"address":"127.0.0.1:0"}], "state_file":")" + state +
                      R"(", "upstreams":[{"name":"a","nodes":[{"name":"n","address":"127.0.0.1:1"}]}]})");
  r = run_drawbridge({"serve", "--config", with_state});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("state_file: " + state + ": the state file is not valid"), std::string::npos) << r.out;
  for (const auto& p : {path, state, with_state}) std::remove(p.c_str());
}

TEST(cli, version_and_help_are_available) {
  const auto v = run_drawbridge({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("drawbridge 0."), std::string::npos) << v.out;
  for (const char* sub : {"serve", "check"}) {
    const auto h = run_drawbridge({sub, "--help"});
    EXPECT_EQ(h.exit_code, 0) << sub;
    EXPECT_NE(h.out.find("--config"), std::string::npos) << h.out;
  }
  for (const char* sub : {"nodes", "drain", "undrain", "rollout"}) {
    const auto h = run_drawbridge({sub, "--help"});
    EXPECT_EQ(h.exit_code, 0) << sub;
    EXPECT_NE(h.out.find("--admin"), std::string::npos) << h.out;
  }
}

TEST(cli, a_tls_listener_with_a_missing_certificate_stops_start_up_naming_the_file) {
  const auto path = write_temp_file(
      R"({"listeners":[{"address":"127.0.0.1:0","tls":{"certificates":[{"cert":"/nonexistent/a.pem","key":"/nonexistent/a.key"}]}}],
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"127.0.0.1:1"}]}]})");
  const auto r = run_drawbridge({"serve", "--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(
      r.out.find("listeners[0].tls: /nonexistent/a.pem: cannot read the certificate file: No such file or directory"),
      std::string::npos)
      << r.out;
  std::remove(path.c_str());
}

namespace {

// One replica: the binary in front of two nodes that need not exist (no health checks, so both count as
// healthy; no traffic). Two started with this config are two replicas without shared state.
std::string replica_config() {
  return R"({"listeners":[{"address":"127.0.0.1:0"}],"access_log":{"path":"off"},
    "admin":{"address":"127.0.0.1:0"},
    "upstreams":[{"name":"app","nodes":[{"name":"node1","address":"127.0.0.1:1"},
                                        {"name":"node2","address":"127.0.0.1:2"}]}]})";
}

std::string admin_url(const spawned_proxy& replica) {
  return "http://127.0.0.1:" + std::to_string(replica.admin_port());
}

// A node's admin state as one replica has it.
std::string admin_state_of(const spawned_proxy& replica, const std::string& node) {
  test_client admin(replica.admin_port());
  const auto reply = admin.get("/v1/upstreams/app/nodes/" + node);
  if (reply.status != 200) return "HTTP " + std::to_string(reply.status) + " " + reply.error;
  return json::parse(reply.body).value("admin_state", "?");
}

}  // namespace

TEST(cli, drain_and_undrain_through_two_admin_urls_change_the_node_on_both_replicas) {
  spawned_proxy first(replica_config()), second(replica_config());
  ASSERT_TRUE(first.started() && first.admin_port() != 0) << first.output();
  ASSERT_TRUE(second.started() && second.admin_port() != 0) << second.output();
  const std::string a = admin_url(first), b = admin_url(second);

  // Spaces around the URLs are allowed.
  auto r = run_drawbridge({"drain", "app", "node2", "--wait", "5s", "--admin", a + ", " + b});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "app/node2 on " + a + ": drained (in flight 0)\napp/node2 on " + b + ": drained (in flight 0)\n");
  EXPECT_EQ(admin_state_of(first, "node2"), "drained");
  EXPECT_EQ(admin_state_of(second, "node2"), "drained");
  EXPECT_EQ(admin_state_of(first, "node1"), "ready");
  EXPECT_EQ(admin_state_of(second, "node1"), "ready");

  // Each replica's table under its URL, in the order given.
  r = run_drawbridge({"nodes", "app", "--admin", a + "," + b});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  const auto at_a = r.out.find("== " + a + " ==\n");
  const auto at_b = r.out.find("== " + b + " ==\n");
  ASSERT_NE(at_a, std::string::npos) << r.out;
  ASSERT_NE(at_b, std::string::npos) << r.out;
  ASSERT_LT(at_a, at_b) << r.out;
  for (const auto& table : {r.out.substr(at_a, at_b - at_a), r.out.substr(at_b)}) {
    EXPECT_NE(table.find("UPSTREAM"), std::string::npos) << r.out;
    EXPECT_NE(table.find("node1"), std::string::npos) << r.out;
    EXPECT_NE(table.find("drained"), std::string::npos) << r.out;
  }

  r = run_drawbridge({"undrain", "app", "node2", "--wait", "5s", "--admin", a + "," + b});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "app/node2 on " + a + ": active (in flight 0)\napp/node2 on " + b + ": active (in flight 0)\n");
  EXPECT_EQ(admin_state_of(first, "node2"), "ready");
  EXPECT_EQ(admin_state_of(second, "node2"), "ready");

  // A replica that cannot be reached fails the listing, and does not hide the others.
  r = run_drawbridge({"nodes", "--admin", a + ",http://127.0.0.1:1"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("== " + a + " ==\nUPSTREAM"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("== http://127.0.0.1:1 ==\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("drawbridge: http://127.0.0.1:1: cannot reach the admin API"), std::string::npos) << r.out;
}

TEST(cli, a_drain_the_second_replica_refuses_is_reported_with_where_it_took_and_exits_1) {
  spawned_proxy first(replica_config()), second(replica_config());
  ASSERT_TRUE(first.started() && first.admin_port() != 0) << first.output();
  ASSERT_TRUE(second.started() && second.admin_port() != 0) << second.output();
  const std::string a = admin_url(first), b = admin_url(second);
  // The second replica has node1 out already: draining node2 there too would leave no node (min_available 1).
  test_client second_admin(second.admin_port());
  ASSERT_EQ(second_admin.request(http::verb::post, "/v1/upstreams/app/nodes/node1/drain").status, 202u);

  auto r = run_drawbridge({"drain", "app", "node2", "--wait", "5s", "--admin", a + "," + b});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  for (const auto& line :
       {"drawbridge: drain app/node2 on " + b + ": draining node2 would leave 0 node(s) taking requests",
        std::string("(409 min_available)\n"),
        "drawbridge: drain app/node2: the change is on 1 of 2 replicas: " + a + "\n",
        "drawbridge: not on " + b + " (refused)\n",
        "drawbridge: to undo it: drawbridge undrain app node2 --admin " + a + "\n",
        "drawbridge: to complete it: drawbridge drain app node2 --wait 5s --admin " + b + "\n"})
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  // Nothing was undone: out on the first replica (the drain finishes there by itself), in on the second.
  EXPECT_TRUE(wait_for([&] { return admin_state_of(first, "node2") == "drained"; }));
  EXPECT_EQ(admin_state_of(second, "node2"), "ready");

  // The printed command undoes it.
  r = run_drawbridge({"undrain", "app", "node2", "--admin", a});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(admin_state_of(first, "node2"), "ready");

  // A refusal on the first replica changes nothing anywhere.
  r = run_drawbridge({"drain", "app", "node2", "--admin", b + "," + a});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("drawbridge: drain app/node2: no replica has the change\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("drawbridge: not on " + b + " (refused), " + a + " (not tried)\n"), std::string::npos) << r.out;
  EXPECT_EQ(admin_state_of(first, "node2"), "ready");
}

TEST(cli, an_admin_list_with_an_empty_item_or_a_replica_twice_is_bad_usage) {
  auto r = run_drawbridge({"nodes", "--admin", "http://127.0.0.1:1,,http://127.0.0.1:2"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("--admin: an empty item in"), std::string::npos) << r.out;
  r = run_drawbridge({"drain", "app", "node1", "--admin", "http://127.0.0.1:1, http://127.0.0.1:1/"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("--admin: http://127.0.0.1:1/ names the same admin API as http://127.0.0.1:1"),
            std::string::npos)
      << r.out;
  r = run_drawbridge({"rollout", "app", "--exec", "true", "--admin", "http://127.0.0.1:1,https://127.0.0.1:2"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("the admin URL must start with http://"), std::string::npos) << r.out;
  r = run_drawbridge({"reload", "--admin", "http://127.0.0.1:1,http://127.0.0.1:2"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("reload acts on one drawbridge: --admin takes one URL here, got 2"), std::string::npos) << r.out;
}
