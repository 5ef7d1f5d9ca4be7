// The headline: `drawbridge rollout` upgrades every node under load without a failed request; and what
// happens when nodes are restarted with no drain at all. Real processes: the drawbridge binary, demo
// nodes restarted by a shell script, clients sending GETs and POSTs the whole time.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "tests/support/demo_fleet.hpp"
#include "tests/support/keepalive_load.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/scratch_dir.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge::testing;
namespace http = boost::beast::http;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string rollout_config(const std::vector<std::uint16_t>& ports, bool health_checks) {
  std::string nodes;
  for (std::size_t i = 0; i < ports.size(); ++i)
    nodes += std::string(i ? "," : "") + R"({"name":"node)" + std::to_string(i + 1) + R"(","address":"127.0.0.1:)" +
             std::to_string(ports[i]) + R"("})";
  // Probes get 250 ms: a ThreadSanitizer build of the binary sometimes needs more than 100 ms for one, and
  // two such in a row made a healthy node unhealthy mid-test.
  const std::string checks = health_checks
                                 ? R"("health_check":{"path":"/api/v1/health","interval":"250ms","timeout":"250ms",
                         "healthy_threshold":2,"unhealthy_threshold":2,
                         "expect_json":{"pointer":"/responseMeta/success","equals":true}},)"
                                 : "";
  return R"({"workers":2,"listeners":[{"address":"127.0.0.1:0"}],"access_log":{"path":"off"},
    "timeouts":{"connect":"1s","read":"10s"},
    "admin":{"address":"127.0.0.1:0"},
    "upstreams":[{"name":"app",)" +
         checks + R"("nodes":[)" + nodes + "]}]}";
}

// The three nodes and drawbridge in front of them with health checks, ready (readyz 200) when built.
struct running_pool {
  explicit running_pool(const std::string& boot)
      : fleet(boot), proxy(rollout_config(fleet.ports(), true)), admin(proxy.admin_port()) {
    ready = fleet.ports().size() == 3 && proxy.started() && proxy.admin_port() != 0 &&
            wait_for([&] { return admin.get("/readyz").status == 200; }) && wait_for([&] { return all_healthy(); });
  }
  // readyz turns 200 with one healthy node; a test that drains one must first see all three pass a probe.
  bool all_healthy() {
    const auto reply = admin.get("/v1/upstreams/app");
    if (reply.status != 200) return false;
    const auto nodes = json::parse(reply.body)["nodes"];
    if (nodes.size() != 3) return false;
    for (const auto& n : nodes)
      if (n["health"] != "healthy") return false;
    return true;
  }
  std::string admin_url() const { return "http://127.0.0.1:" + std::to_string(proxy.admin_port()); }

  demo_fleet fleet;
  spawned_proxy proxy;
  test_client admin;
  bool ready = false;
};

}  // namespace

TEST(rollout, upgrades_every_node_under_load_without_a_failed_request) {
  running_pool pool("1500ms");
  ASSERT_TRUE(pool.ready) << pool.proxy.output();

  keepalive_load traffic(pool.proxy.port(), 6);
  ASSERT_TRUE(wait_for([&] { return traffic.gets() > 100; }));
  const auto result =
      run_drawbridge({"rollout", "app", "--admin", pool.admin_url(), "--exec",
                      pool.fleet.restart_script() + " {node} {address}", "--drain-wait", "10s", "--health-wait", "20s"},
                     90s);
  // Traffic on the upgraded pool.
  const auto gets_after_rollout = traffic.gets();
  EXPECT_TRUE(wait_for([&] { return traffic.gets() >= gets_after_rollout + 50; }));
  traffic.stop();
  std::cout << "rollout under load: " << traffic.gets() << " GETs, " << traffic.posts() << " POSTs, "
            << traffic.failed_gets() << " + " << traffic.failed_posts() << " failed\n";
  EXPECT_EQ(result.exit_code, 0) << result.out;
  EXPECT_EQ(traffic.failed_gets() + traffic.failed_posts(), 0u) << traffic.failures();
  EXPECT_GT(traffic.posts(), 30u);
  for (const char* line : {"rollout app: 3 node(s): node1 node2 node3", "[1/3] node1: drained", "node1 | stopped node1",
                           "[2/3] node2: active", "[3/3] node3: active", "rollout app: done"})
    EXPECT_NE(result.out.find(line), std::string::npos) << line << "\n" << result.out;
  // Every node serves again, and the audit log recorded each step.
  const auto upstream = json::parse(pool.admin.get("/v1/upstreams/app").body);
  for (const auto& n : upstream["nodes"]) EXPECT_EQ(n["state"], "active") << n.dump();
  const auto log = pool.proxy.log();
  EXPECT_NE(log.find(R"({"audit":{"client":"127.0.0.1:)"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("action":"drain","upstream":"app","node":"node3","status":200)"), std::string::npos);
  EXPECT_NE(log.find(R"("action":"undrain")"), std::string::npos);
}

TEST(rollout, stops_at_the_first_failing_command_and_leaves_that_node_out_of_rotation) {
  running_pool pool("0s");
  ASSERT_TRUE(pool.ready) << pool.proxy.output();
  const auto result = run_drawbridge({"rollout", "app", "--admin", pool.admin_url(), "--nodes", "node2,node3", "--exec",
                                      "echo upgrading {node} at {address}; exit 3"});
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_NE(result.out.find("node2 | upgrading node2 at 127.0.0.1:" + std::to_string(pool.fleet.ports()[1])),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find(
                "stopped at node2: the command exited with 3; node2 stays out of rotation; 1 node(s) not touched"),
            std::string::npos)
      << result.out;
  const auto upstream = json::parse(pool.admin.get("/v1/upstreams/app").body);
  EXPECT_EQ(upstream["nodes"][0]["state"], "active");
  EXPECT_EQ(upstream["nodes"][1]["state"], "drained");
  EXPECT_EQ(upstream["nodes"][2]["state"], "active");
}

TEST(rollout, a_node_that_does_not_come_back_healthy_in_time_is_drained_again_and_the_rollout_stops) {
  running_pool pool("0s");
  ASSERT_TRUE(pool.ready) << pool.proxy.output();
  // The upgraded node boots for 30 s; the rollout waits 1 s for its health.
  const auto result =
      run_drawbridge({"rollout", "app", "--admin", pool.admin_url(), "--exec",
                      "BOOT=30s " + pool.fleet.restart_script() + " {node} {address}", "--health-wait", "1s"},
                     30s);
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_NE(result.out.find("stopped at node1: undrain: node node1 is not healthy after 1s"), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("drained again; node1 stays out of rotation; 2 node(s) not touched"), std::string::npos)
      << result.out;
  const auto upstream = json::parse(pool.admin.get("/v1/upstreams/app").body);
  EXPECT_EQ(upstream["nodes"][0]["admin_state"], "drained");
  EXPECT_EQ(upstream["nodes"][1]["state"], "active");
  EXPECT_EQ(upstream["nodes"][2]["state"], "active");
}

TEST(cli, nodes_drain_and_undrain_talk_to_the_admin_api) {
  running_pool pool("0s");
  ASSERT_TRUE(pool.ready) << pool.proxy.output();
  const std::string url = pool.admin_url();
  auto r = run_drawbridge({"drain", "app", "node2", "--wait", "5s", "--admin", url});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "app/node2: drained (in flight 0)\n");
  r = run_drawbridge({"nodes", "--admin", url});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("UPSTREAM"), std::string::npos);
  EXPECT_NE(r.out.find("node2"), std::string::npos);
  EXPECT_NE(r.out.find("drained"), std::string::npos);
  r = run_drawbridge({"undrain", "app", "node2", "--wait", "5s", "--admin", url});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "app/node2: active (in flight 0)\n");
  r = run_drawbridge({"drain", "app", "nope", "--admin", url});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("upstream app has no node \"nope\" (404 not_found)"), std::string::npos) << r.out;
  r = run_drawbridge({"nodes", "--admin", "http://127.0.0.1:1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("cannot reach the admin API"), std::string::npos) << r.out;
}

TEST(restart_without_drain, no_get_fails_and_only_posts_in_flight_on_a_stopped_node_can) {
  running_pool pool("1500ms");
  ASSERT_TRUE(pool.ready) << pool.proxy.output();
  keepalive_load traffic(pool.proxy.port(), 6);
  ASSERT_TRUE(wait_for([&] { return traffic.gets() > 100; }));
  for (int i = 0; i < 3; ++i) {
    const std::string name = "node" + std::to_string(i + 1);
    const std::string command = pool.fleet.restart_script() + " " + name +
                                " 127.0.0.1:" + std::to_string(pool.fleet.ports()[static_cast<std::size_t>(i)]) +
                                " >/dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0);
    // Wait for the node to be back in rotation before restarting the next one.
    ASSERT_TRUE(wait_for(
        [&] {
          const auto n = json::parse(pool.admin.get("/v1/upstreams/app/nodes/" + name).body);
          return n["state"] == "active" && n["health"] == "healthy" && n["last_check"]["ok"] == true;
        },
        20s));
  }
  traffic.stop();
  std::cout << "restart without drain: " << traffic.gets() << " GETs, " << traffic.posts()
            << " POSTs; failed: " << traffic.failed_gets() << " GETs, " << traffic.failed_posts() << " POSTs\n"
            << traffic.failures();
  EXPECT_EQ(traffic.failed_gets(), 0u) << traffic.failures();
  // A POST is never replayed: the ones a stopped node was handling, or that met a booting node before its
  // checks failed, can fail. Bounded, not zero.
  EXPECT_LT(traffic.failed_posts(), traffic.posts() / 10 + 1);
}

namespace {

// drawbridge (the binary) in front of two nodes that need not exist: no health checks, no traffic.
std::string two_node_config(const std::string& first_name, const std::string& extra = "") {
  return R"({"listeners":[{"address":"127.0.0.1:0"}],"access_log":{"path":"off"},
    "admin":{"address":"127.0.0.1:0"},)" +
         extra + R"(
    "upstreams":[{"name":"app","nodes":[{"name":")" +
         first_name + R"(","address":"127.0.0.1:1"},
                                        {"name":"node2","address":"127.0.0.1:2"}]}]})";
}

}  // namespace

TEST(rollout, a_node_name_reaches_the_command_as_one_quoted_word_and_in_the_environment) {
  const scratch_dir dir;
  // A configured name may hold anything; substituted unquoted, this one would run touch.
  const std::string name = "x;touch " + dir.file("owned");
  spawned_proxy proxy(two_node_config(name));
  ASSERT_TRUE(proxy.started() && proxy.admin_port() != 0) << proxy.output();
  const auto result = run_drawbridge(
      {"rollout", "app", "--admin", "http://127.0.0.1:" + std::to_string(proxy.admin_port()), "--nodes", name, "--exec",
       R"(echo got:{node}:"$DRAWBRIDGE_NODE":"$DRAWBRIDGE_UPSTREAM":"$DRAWBRIDGE_ADDRESS" at {address})",
       "--health-wait", "5s"});
  EXPECT_EQ(result.exit_code, 0) << result.out;
  EXPECT_NE(result.out.find(name + " | got:" + name + ":" + name + ":app:127.0.0.1:1 at 127.0.0.1:1"),
            std::string::npos)
      << result.out;
  EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << result.out;
}

TEST(rollout, stops_when_drawbridge_cannot_save_a_step) {
  const scratch_dir scratch;
  const auto& dir = scratch.path();
  spawned_proxy proxy(two_node_config("node1", R"("state_file":")" + dir + R"(/state.json",)"));
  ASSERT_TRUE(proxy.started() && proxy.admin_port() != 0) << proxy.output();
  // The state file's directory becomes a file: drawbridge can drain, but not remember it.
  std::filesystem::remove_all(dir);
  std::ofstream(dir) << "not a directory";
  const auto result =
      run_drawbridge({"rollout", "app", "--admin", "http://127.0.0.1:" + std::to_string(proxy.admin_port()), "--exec",
                      "echo ran {node}"});
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_NE(result.out.find("stopped at node1: drain: "), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("(500 persist_failed); node1 stays out of rotation; 1 node(s) not touched"),
            std::string::npos)
      << result.out;
  EXPECT_EQ(result.out.find("ran "), std::string::npos) << result.out;  // the command never ran
  test_client admin(proxy.admin_port());
  const auto upstream = json::parse(admin.get("/v1/upstreams/app").body);
  EXPECT_EQ(upstream["nodes"][0]["admin_state"], "drained");
  EXPECT_EQ(upstream["nodes"][1]["admin_state"], "ready");
}

namespace {

std::string admin_url_of(const spawned_proxy& replica) {
  return "http://127.0.0.1:" + std::to_string(replica.admin_port());
}

// Every node of upstream app in `state`, as one replica (its admin API's port) has it.
bool all_nodes_in(std::uint16_t admin_port, const std::string& state) {
  test_client admin(admin_port);
  const auto reply = admin.get("/v1/upstreams/app");
  if (reply.status != 200) return false;
  const auto nodes = json::parse(reply.body)["nodes"];
  if (nodes.size() != 3) return false;
  for (const auto& n : nodes)
    if (n.value("state", "") != state) return false;
  return true;
}

std::size_t count_of(const std::string& text, const std::string& part) {
  std::size_t count = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++count;
  return count;
}

}  // namespace

TEST(rollout, through_two_replicas_upgrades_each_node_once_it_is_drained_on_both_and_waits_until_active_on_both) {
  // Two drawbridge processes in front of the same three nodes, sharing nothing: the CLI is what keeps them
  // in step.
  demo_fleet fleet("0s");
  ASSERT_EQ(fleet.ports().size(), 3u);
  spawned_proxy first(rollout_config(fleet.ports(), true)), second(rollout_config(fleet.ports(), true));
  ASSERT_TRUE(first.started() && first.admin_port() != 0) << first.output();
  ASSERT_TRUE(second.started() && second.admin_port() != 0) << second.output();
  ASSERT_TRUE(wait_for(
      [&] { return all_nodes_in(first.admin_port(), "active") && all_nodes_in(second.admin_port(), "active"); }));

  const std::string urls = admin_url_of(first) + "," + admin_url_of(second);
  // Before its upgrade, each node is looked up on both replicas: one "seen NODE STATE" line per replica.
  const std::string look = std::string(DRAWBRIDGE_BINARY) + " nodes app --admin " + urls +
                           R"( | awk -v n="$DRAWBRIDGE_NODE" '$2 == n { print "seen " $2 " " $4 }')";
  const auto result = run_drawbridge(
      {"rollout", "app", "--admin", urls, "--exec", look + " && " + fleet.restart_script() + " {node} {address}",
       "--drain-wait", "10s", "--health-wait", "20s"},
      90s);
  EXPECT_EQ(result.exit_code, 0) << result.out;
  for (const auto& line : {std::string("rollout app: 3 node(s): node1 node2 node3"),
                           "rollout app: each step on 2 replicas: " + admin_url_of(first) + " " + admin_url_of(second),
                           std::string("rollout app: done, 3 node(s) on 2 replicas in ")})
    EXPECT_NE(result.out.find(line), std::string::npos) << line << "\n" << result.out;
  for (int i = 1; i <= 3; ++i) {
    const std::string name = "node" + std::to_string(i);
    const std::string step = "[" + std::to_string(i) + "/3] " + name + ": ";
    std::string seen = name;  // "node1 | seen node1", and what was seen
    seen.append(" | seen ").append(name);
    std::string stopped = name;
    stopped.append(" | stopped ").append(name);
    // Drained on both when the command ran; upgraded; active on both before the next node was touched.
    EXPECT_EQ(count_of(result.out, seen + " drained\n"), 2u) << result.out;
    EXPECT_EQ(count_of(result.out, seen), 2u) << result.out;
    EXPECT_NE(result.out.find(stopped), std::string::npos) << result.out;
    const auto active = result.out.find(step + "active on 2 replicas\n");
    ASSERT_NE(active, std::string::npos) << result.out;
    EXPECT_LT(result.out.find(step + "drained on 2 replicas\n"), result.out.find(step + "running: ")) << result.out;
    if (i < 3) {
      EXPECT_LT(active,
                result.out.find("[" + std::to_string(i + 1) + "/3] node" + std::to_string(i + 1) + ": draining"))
          << result.out;
    }
  }
  // Both replicas agree: every node serves again, and each recorded each step.
  EXPECT_TRUE(all_nodes_in(first.admin_port(), "active"));
  EXPECT_TRUE(all_nodes_in(second.admin_port(), "active"));
  for (const auto* replica : {&first, &second}) {
    const auto log = replica->log();
    for (const char* name : {"node1", "node2", "node3"}) {
      const std::string node = std::string(R"("upstream":"app","node":")") + name + R"(","status":200)";
      EXPECT_NE(log.find(R"("action":"drain",)" + node), std::string::npos) << name << "\n" << log;
      EXPECT_NE(log.find(R"("action":"undrain",)" + node), std::string::npos) << name << "\n" << log;
    }
  }
}

TEST(rollout, a_drain_the_second_replica_refuses_stops_it_before_the_command_naming_where_the_node_is_out) {
  spawned_proxy first(two_node_config("node1")), second(two_node_config("node1"));
  ASSERT_TRUE(first.started() && first.admin_port() != 0) << first.output();
  ASSERT_TRUE(second.started() && second.admin_port() != 0) << second.output();
  const std::string a = admin_url_of(first), b = admin_url_of(second);
  // The second replica has node1 out: draining node2 there too would leave no node (min_available 1).
  test_client second_admin(second.admin_port());
  ASSERT_EQ(second_admin.request(http::verb::post, "/v1/upstreams/app/nodes/node1/drain").status, 202u);

  const auto result =
      run_drawbridge({"rollout", "app", "--admin", a + "," + b, "--nodes", "node2,node1", "--exec", "echo ran {node}"});
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_EQ(result.out.find("ran "), std::string::npos) << result.out;  // the command never ran
  const std::string refused =
      "rollout app: stopped at node2: drain on " + b + ": draining node2 would leave 0 node(s) taking requests";
  const std::string where = "(409 min_available); node2 stays out of rotation on " + a + ", still in rotation on " + b +
                            "; 1 node(s) not touched\n";
  const std::string undo =
      "rollout app: to put node2 back in rotation: drawbridge undrain app node2 --admin " + a + "\n";
  for (const auto& line : {refused, where, undo})
    EXPECT_NE(result.out.find(line), std::string::npos) << line << "\n" << result.out;
  // Nothing was undone: out on the first replica (the drain finishes there by itself), in on the second.
  const auto node2_on = [](const spawned_proxy& replica) {
    const auto reply = test_client(replica.admin_port()).get("/v1/upstreams/app/nodes/node2");
    return reply.status == 200 ? json::parse(reply.body).value("admin_state", "")
                               : "HTTP " + std::to_string(reply.status);
  };
  EXPECT_TRUE(wait_for([&] { return node2_on(first) == "drained"; })) << node2_on(first);
  EXPECT_EQ(node2_on(second), "ready");
}

TEST(rollout, refuses_to_start_when_the_replicas_do_not_list_the_same_nodes) {
  spawned_proxy first(two_node_config("node1")), second(two_node_config("other"));
  ASSERT_TRUE(first.started() && first.admin_port() != 0) << first.output();
  ASSERT_TRUE(second.started() && second.admin_port() != 0) << second.output();
  const std::string a = admin_url_of(first), b = admin_url_of(second);
  const auto result = run_drawbridge({"rollout", "app", "--admin", a + "," + b, "--exec", "echo ran {node}"});
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_NE(result.out.find("rollout app: the replicas do not list the same nodes: " + b +
                            " has no node \"node1\"; nothing was changed\n"),
            std::string::npos)
      << result.out;
  EXPECT_EQ(result.out.find("ran "), std::string::npos) << result.out;
  for (const auto* replica : {&first, &second}) {
    test_client admin(replica->admin_port());
    const auto upstream = json::parse(admin.get("/v1/upstreams/app").body);
    for (const auto& n : upstream["nodes"]) EXPECT_EQ(n.value("admin_state", ""), "ready") << n.dump();
  }
}
