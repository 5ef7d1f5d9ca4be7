// Active health checks, passive ejection and moving a safe request off a node that answers 502.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/fake_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge;
using namespace drawbridge::testing;
namespace http = boost::beast::http;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::map<std::string, int> count_nodes(test_client& client, int requests) {
  std::map<std::string, int> counts;
  for (int i = 0; i < requests; ++i) {
    const auto res = client.get("/x");
    if (res.status != 200) {
      ++counts["status " + std::to_string(res.status)];
      continue;
    }
    ++counts[json::parse(res.body)["node"].get<std::string>()];
  }
  return counts;
}

}  // namespace

TEST(health, a_node_failing_its_checks_gets_no_requests_and_comes_back_when_they_pass) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}));
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).eligible() && proxy.node(1).eligible(); }));
  b.set_healthy(false);
  ASSERT_TRUE(wait_for([&] { return proxy.node(1).health == upstream::health_state::unhealthy; }));
  test_client client(proxy.port());
  EXPECT_EQ(count_nodes(client, 20), (std::map<std::string, int>{{"a", 20}}));
  b.set_healthy(true);
  ASSERT_TRUE(wait_for([&] { return proxy.node(1).eligible(); }));
  EXPECT_EQ(count_nodes(client, 20), (std::map<std::string, int>{{"a", 10}, {"b", 10}}));
}

TEST(health, readyz_answers_503_until_an_upstream_has_a_healthy_node) {
  fake_node booting({"booting", "127.0.0.1", 0, 700ms});
  proxy_under_test proxy(admin_test_config({booting.port()}));
  test_client admin(proxy.admin_port());
  auto res = admin.get("/readyz");
  EXPECT_EQ(res.status, 503u);
  EXPECT_EQ(json::parse(res.body)["upstreams_without_eligible_node"], json::array({"app"}));
  // Requests meanwhile find no node rather than the booting node's 502.
  test_client client(proxy.port());
  EXPECT_EQ(client.get("/x").status, 503u);
  ASSERT_TRUE(wait_for([&] { return admin.get("/readyz").status == 200; }, 5s));
  EXPECT_EQ(json::parse(admin.get("/readyz").body)["status"], "READY");
  EXPECT_EQ(admin.get("/healthz").body, "{\"status\":\"UP\"}\n");
}

TEST(health, checks_reuse_one_connection_to_a_node_that_keeps_it_alive) {
  fake_node a({"a"});
  proxy_under_test proxy(admin_test_config({a.port()}));
  ASSERT_TRUE(wait_for([&] { return a.requests() >= 10; }));
  // One connection, unless a check timed out (100 ms here: a sanitizer build on a busy machine can take that
  // long) and its connection was closed: then a new one. Without reuse there would be one per check.
  EXPECT_LE(a.connections(), a.requests() / 3) << a.connections() << " connections for " << a.requests() << " checks";
}

TEST(health, the_last_check_is_shown_with_its_status_latency_and_error) {
  fake_node a({"a"});
  proxy_under_test proxy(admin_test_config({a.port()}));
  test_client admin(proxy.admin_port());
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).eligible(); }));
  auto node = json::parse(admin.get("/v1/upstreams/app/nodes/node1").body);
  EXPECT_EQ(node["last_check"]["ok"], true);
  EXPECT_EQ(node["last_check"]["status"], 200);
  EXPECT_GE(node["last_check"]["latency_ms"].get<double>(), 0.0);
  EXPECT_TRUE(node["last_check"]["error"].is_null());
  a.set_healthy(false);
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).health == upstream::health_state::unhealthy; }));
  node = json::parse(admin.get("/v1/upstreams/app/nodes/node1").body);
  EXPECT_EQ(node["state"], "unhealthy");
  EXPECT_EQ(node["last_check"]["ok"], false);
  EXPECT_EQ(node["last_check"]["status"], 503);
  EXPECT_EQ(node["last_check"]["error"], "status 503");
}

TEST(health, a_node_that_stops_listening_is_marked_unhealthy) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}));
  ASSERT_TRUE(wait_for([&] { return proxy.node(1).eligible(); }));
  b.stop();
  ASSERT_TRUE(wait_for([&] { return proxy.node(1).health == upstream::health_state::unhealthy; }));
  test_client client(proxy.port());
  EXPECT_EQ(count_nodes(client, 10), (std::map<std::string, int>{{"a", 10}}));
}

TEST(ejection, a_node_that_keeps_resetting_is_ejected_then_taken_back_after_the_ejection_time) {
  fake_node good({"good"});
  fake_node bad({"bad", "127.0.0.1", 0, 0ms, fake_node_options::behaviour::reset});
  auto config = test_config({good.port(), bad.port()});
  config.upstreams[0].passive.max_failures = 3;
  config.upstreams[0].passive.ejection_time = 400ms;
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  // GETs that meet the resetting node move on to the good one: the client never sees the failures.
  EXPECT_EQ(count_nodes(client, 10), (std::map<std::string, int>{{"good", 10}}));
  EXPECT_TRUE(proxy.node(1).ejected);
  EXPECT_EQ(proxy.node(1).failures_total, 3u);
  const auto bad_requests = bad.requests();
  count_nodes(client, 10);
  EXPECT_EQ(bad.requests(), bad_requests);  // ejected: not even tried
  ASSERT_TRUE(wait_for([&] { return !proxy.node(1).ejected; }, 3s));
}

TEST(ejection, the_last_eligible_node_is_never_ejected) {
  fake_node bad({"bad", "127.0.0.1", 0, 0ms, fake_node_options::behaviour::reset});
  auto config = test_config({bad.port()});
  config.upstreams[0].passive.max_failures = 2;
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client.get("/x").status, 502u);
  EXPECT_FALSE(proxy.node(0).ejected);
  EXPECT_EQ(proxy.node(0).failures_total, 5u);
}

TEST(retries, a_get_answered_502_by_a_booting_node_is_answered_by_another_node) {
  fake_node up({"up"});
  fake_node booting({"booting", "127.0.0.1", 0, 30s});  // answers 502 to everything for 30 s
  auto config = test_config({up.port(), booting.port()});
  config.upstreams[0].passive.max_failures = 0;  // keep trying it: this test is about the retry
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  EXPECT_EQ(count_nodes(client, 10), (std::map<std::string, int>{{"up", 10}}));
  EXPECT_EQ(booting.requests(), 5u);
  // A POST is not repeated: the booting node's 502 reaches the client.
  std::map<unsigned, int> posts;
  for (int i = 0; i < 4; ++i) ++posts[client.request(http::verb::post, "/upload", "data").status];
  EXPECT_EQ(posts, (std::map<unsigned, int>{{200, 2}, {502, 2}}));
}

TEST(retries, with_no_other_node_the_502_is_relayed) {
  fake_node booting({"booting", "127.0.0.1", 0, 30s});
  proxy_under_test proxy({booting.port()});
  test_client client(proxy.port());
  const auto res = client.get("/x");
  EXPECT_EQ(res.status, 502u);
  EXPECT_EQ(res.body, "502 Bad Gateway");
}

TEST(health, stopping_while_a_probe_waits_on_a_silent_node_is_prompt) {
  // A node that accepts connections and never answers: the probe is mid-read when the proxy stops.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor silent(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto config = admin_test_config({silent.local_endpoint().port()});
  config.upstreams[0].health_check.interval = 10s;
  config.upstreams[0].health_check.timeout = 10s;
  const auto started = std::chrono::steady_clock::now();
  {
    proxy_under_test proxy(config);
    boost::asio::ip::tcp::socket accepted(io);
    silent.accept(accepted);  // the probe connected; its request goes unanswered
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}
