// The admin API: listing, drain and undrain with their waits, min_available, adding and removing nodes,
// tokens, and the state file that carries admin state across a restart.

#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>

#include "tests/integration/proxy_harness.hpp"
#include "tests/support/fake_node.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge;
using namespace drawbridge::testing;
namespace http = boost::beast::http;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

http_response post(test_client& admin, const std::string& target, std::string body = {}) {
  return admin.request(http::verb::post, target, std::move(body));
}

std::string node_of(const http_response& res) {
  if (res.status != 200) return "status " + std::to_string(res.status);
  return json::parse(res.body)["node"].get<std::string>();
}

void wait_until_all_eligible(proxy_under_test& proxy) {
  ASSERT_TRUE(wait_for([&] {
    for (const auto& n : *proxy.rt().upstreams[0]->nodes())
      if (!n->eligible()) return false;
    return true;
  }));
}

}  // namespace

TEST(admin_api, lists_upstreams_and_nodes_with_their_state_and_counters) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}));
  wait_until_all_eligible(proxy);
  test_client client(proxy.port());
  client.get("/x");
  test_client admin(proxy.admin_port());
  const auto res = admin.get("/v1/upstreams");
  ASSERT_EQ(res.status, 200u);
  EXPECT_EQ(res.headers[http::field::content_type], "application/json");
  const auto body = json::parse(res.body);
  ASSERT_EQ(body["upstreams"].size(), 1u);
  const auto& u = body["upstreams"][0];
  EXPECT_EQ(u["name"], "app");
  EXPECT_EQ(u["min_available"], 1);
  ASSERT_EQ(u["nodes"].size(), 2u);
  const auto& n = u["nodes"][0];
  for (const char* key : {"name", "address", "weight", "admin_state", "health", "state", "in_flight", "requests_total",
                          "failures_total", "last_check"})
    EXPECT_TRUE(n.contains(key)) << key;
  EXPECT_EQ(n["name"], "node1");
  EXPECT_EQ(n["address"], "127.0.0.1:" + std::to_string(a.port()));
  EXPECT_EQ(n["state"], "active");
  EXPECT_EQ(n["admin_state"], "ready");
  EXPECT_EQ(n["health"], "healthy");
  EXPECT_EQ(n["requests_total"], 1);
  EXPECT_EQ(json::parse(admin.get("/v1/upstreams/app").body)["nodes"].size(), 2u);
  EXPECT_EQ(json::parse(admin.get("/v1/upstreams/app/nodes/node2").body)["name"], "node2");
}

TEST(admin_api, unknown_names_bad_parameters_and_wrong_methods_are_refused) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}));
  test_client admin(proxy.admin_port());
  auto res = admin.get("/v1/upstreams/nope");
  EXPECT_EQ(res.status, 404u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "not_found");
  EXPECT_EQ(post(admin, "/v1/upstreams/app/nodes/nope/drain").status, 404u);
  res = post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=soon");
  EXPECT_EQ(res.status, 400u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "bad_request");
  EXPECT_EQ(post(admin, "/v1/upstreams/app/nodes/node1/drain?force=maybe").status, 400u);
  res = admin.get("/v1/upstreams/app/nodes/node1/drain");
  EXPECT_EQ(res.status, 405u);
  EXPECT_EQ(res.headers[http::field::allow], "POST");
  EXPECT_EQ(admin.request(http::verb::put, "/v1/upstreams/app").status, 405u);
  EXPECT_EQ(admin.get("/v2/whatever").status, 404u);
  EXPECT_EQ(proxy.node(0).admin, upstream::admin_state::ready);  // nothing refused changed anything
}

TEST(drain, a_drained_node_gets_no_new_requests_while_its_in_flight_request_completes) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}, false));
  // Round robin sends the first request to node1: a slow one, in flight during the drain.
  auto slow = std::async(std::launch::async, [&] {
    test_client c(proxy.port());
    return c.get("/slow?delay_ms=700");
  });
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).in_flight == 1; }));
  auto drained = std::async(std::launch::async, [&] {
    test_client admin(proxy.admin_port());
    return post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=5s");
  });
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).admin == upstream::admin_state::draining; }));
  test_client client(proxy.port());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(node_of(client.get("/x")), "b");
  EXPECT_EQ(drained.wait_for(0ms), std::future_status::timeout);  // still waiting for the slow request
  const auto slow_res = slow.get();
  EXPECT_EQ(slow_res.status, 200u);
  EXPECT_EQ(node_of(slow_res), "a");
  const auto res = drained.get();
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(json::parse(res.body)["state"], "drained");
  EXPECT_EQ(json::parse(res.body)["in_flight"], 0);
}

TEST(drain, without_wait_it_answers_202_and_a_wait_that_runs_out_answers_504) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}, false));
  auto slow = std::async(std::launch::async, [&] {
    test_client c(proxy.port());
    return c.get("/slow?delay_ms=1500");
  });
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).in_flight == 1; }));
  test_client admin(proxy.admin_port());
  auto res = post(admin, "/v1/upstreams/app/nodes/node1/drain");
  EXPECT_EQ(res.status, 202u);
  EXPECT_EQ(json::parse(res.body)["state"], "draining");
  res = post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=200ms");
  EXPECT_EQ(res.status, 504u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "timeout");
  EXPECT_EQ(proxy.node(0).admin, upstream::admin_state::draining);
  EXPECT_EQ(slow.get().status, 200u);
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).admin == upstream::admin_state::drained; }));
}

TEST(drain, draining_below_min_available_is_refused_with_409_unless_forced) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}, false));
  test_client admin(proxy.admin_port());
  EXPECT_EQ(post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=1s").status, 200u);
  auto res = post(admin, "/v1/upstreams/app/nodes/node2/drain");
  EXPECT_EQ(res.status, 409u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "min_available");
  EXPECT_EQ(proxy.node(1).admin, upstream::admin_state::ready);
  test_client client(proxy.port());
  EXPECT_EQ(node_of(client.get("/x")), "b");
  res = post(admin, "/v1/upstreams/app/nodes/node2/drain?force=true&wait=1s");
  EXPECT_EQ(res.status, 200u);
  EXPECT_EQ(client.get("/x").status, 503u);
}

TEST(undrain, a_node_comes_back_only_after_its_health_checks_pass) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}));
  wait_until_all_eligible(proxy);
  test_client admin(proxy.admin_port());
  ASSERT_EQ(post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=1s").status, 200u);
  auto res = post(admin, "/v1/upstreams/app/nodes/node1/undrain?wait=5s");
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(json::parse(res.body)["state"], "active");
  test_client client(proxy.port());
  std::map<std::string, int> seen;
  for (int i = 0; i < 10; ++i) ++seen[node_of(client.get("/x"))];
  EXPECT_EQ(seen, (std::map<std::string, int>{{"a", 5}, {"b", 5}}));
}

TEST(undrain, a_node_that_stays_unhealthy_never_receives_traffic) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}));
  wait_until_all_eligible(proxy);
  test_client admin(proxy.admin_port());
  ASSERT_EQ(post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=1s").status, 200u);
  a.set_healthy(false);  // the upgrade went wrong
  const auto before = a.requests();
  auto res = post(admin, "/v1/upstreams/app/nodes/node1/undrain?wait=400ms");
  EXPECT_EQ(res.status, 504u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "timeout");
  const auto node = json::parse(admin.get("/v1/upstreams/app/nodes/node1").body);
  EXPECT_EQ(node["admin_state"], "ready");
  EXPECT_NE(node["state"], "active");
  test_client client(proxy.port());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(node_of(client.get("/x")), "b");
  // Only health checks reached node a since the undrain.
  EXPECT_EQ(proxy.node(0).requests_total, 0u);
  EXPECT_GT(a.requests(), before);
}

TEST(nodes, a_node_added_through_the_api_warms_up_then_takes_requests_and_a_removed_one_leaves) {
  fake_node a({"a"}), c({"c"});
  proxy_under_test proxy(admin_test_config({a.port()}));
  wait_until_all_eligible(proxy);
  test_client admin(proxy.admin_port());
  auto res = post(admin, "/v1/upstreams/app/nodes",
                  R"({"name":"node3","address":"127.0.0.1:)" + std::to_string(c.port()) + R"(","weight":1})");
  ASSERT_EQ(res.status, 201u) << res.body;
  EXPECT_EQ(json::parse(res.body)["state"], "warming");
  EXPECT_EQ(post(admin, "/v1/upstreams/app/nodes", R"({"name":"node3","address":"127.0.0.1:1"})").status, 409u);
  EXPECT_EQ(post(admin, "/v1/upstreams/app/nodes", R"({"name":"bad name","address":"127.0.0.1:1"})").status, 400u);
  EXPECT_EQ(post(admin, "/v1/upstreams/app/nodes", R"({"name":"x","address":"nowhere"})").status, 400u);
  EXPECT_EQ(post(admin, "/v1/upstreams/app/nodes", "not json").status, 400u);
  wait_until_all_eligible(proxy);
  test_client client(proxy.port());
  std::map<std::string, int> seen;
  for (int i = 0; i < 10; ++i) ++seen[node_of(client.get("/x"))];
  EXPECT_EQ(seen, (std::map<std::string, int>{{"a", 5}, {"c", 5}}));

  res = admin.request(http::verb::delete_, "/v1/upstreams/app/nodes/node3?wait=2s");
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(json::parse(res.body)["removed"], "node3");
  EXPECT_EQ(admin.get("/v1/upstreams/app/nodes/node3").status, 404u);
  EXPECT_EQ(proxy.rt().upstreams[0]->nodes()->size(), 1u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(node_of(client.get("/x")), "a");
  // Removing the last node would break min_available.
  EXPECT_EQ(admin.request(http::verb::delete_, "/v1/upstreams/app/nodes/node1").status, 409u);
}

TEST(tokens, every_v1_call_needs_the_bearer_token_but_health_endpoints_stay_open) {
  fake_node a({"a"}), b({"b"});
  auto config = admin_test_config({a.port(), b.port()}, false);
  config.admin.token_file = write_temp_file("# operators\nops:s3cret-token\nci:another-one\n", ".tokens");
  proxy_under_test proxy(config);
  test_client admin(proxy.admin_port());
  auto res = admin.get("/v1/upstreams");
  EXPECT_EQ(res.status, 401u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "unauthorized");
  EXPECT_EQ(admin.request(http::verb::get, "/v1/upstreams", {}, {{"Authorization", "Bearer wrong"}}).status, 401u);
  EXPECT_EQ(admin.request(http::verb::post, "/v1/upstreams/app/nodes/node1/drain", {},
                          {{"Authorization", "Bearer s3cret-toke"}}).status, 401u);
  EXPECT_EQ(proxy.node(0).admin, upstream::admin_state::ready);
  EXPECT_EQ(admin.request(http::verb::get, "/v1/upstreams", {}, {{"Authorization", "Bearer s3cret-token"}}).status,
            200u);
  EXPECT_EQ(admin.request(http::verb::post, "/v1/upstreams/app/nodes/node1/drain", {},
                          {{"Authorization", "bearer another-one"}}).status, 202u);
  EXPECT_EQ(admin.get("/healthz").status, 200u);
  EXPECT_EQ(admin.get("/readyz").status, 200u);
}

TEST(state_file, a_drained_node_stays_drained_across_a_restart_and_added_nodes_come_back) {
  fake_node a({"a"}), b({"b"}), c({"c"});
  auto config = admin_test_config({a.port(), b.port()}, false);
  config.state_file = write_temp_file("", ".state");
  ::unlink(config.state_file.c_str());  // a first start: no file yet
  {
    proxy_under_test proxy(config);
    test_client admin(proxy.admin_port());
    ASSERT_EQ(post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=1s").status, 200u);
    ASSERT_EQ(post(admin, "/v1/upstreams/app/nodes",
                   R"({"name":"node3","address":"127.0.0.1:)" + std::to_string(c.port()) + R"("})").status,
              201u);
  }
  proxy_under_test restarted(config);
  EXPECT_EQ(restarted.node(0).admin, upstream::admin_state::drained);
  ASSERT_EQ(restarted.rt().upstreams[0]->nodes()->size(), 3u);
  EXPECT_EQ(restarted.node(2).name(), "node3");
  test_client client(restarted.port());
  std::map<std::string, int> seen;
  for (int i = 0; i < 10; ++i) ++seen[node_of(client.get("/x"))];
  EXPECT_EQ(seen, (std::map<std::string, int>{{"b", 5}, {"c", 5}}));
}

TEST(slow_start, an_undrained_node_ramps_up_instead_of_taking_its_full_share_at_once) {
  fake_node a({"a"}), b({"b"});
  auto config = admin_test_config({a.port(), b.port()}, false);
  config.upstreams[0].slow_start = 1500ms;
  proxy_under_test proxy(config);
  test_client admin(proxy.admin_port());
  ASSERT_EQ(post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=1s").status, 200u);
  const auto res = post(admin, "/v1/upstreams/app/nodes/node1/undrain?wait=1s");
  ASSERT_EQ(res.status, 200u);  // takes requests again at once (no health checks configured)...
  EXPECT_EQ(json::parse(res.body)["state"], "warming");  // ...but only a growing share of them
  test_client client(proxy.port());
  std::map<std::string, int> seen;
  for (int i = 0; i < 20; ++i) ++seen[node_of(client.get("/x"))];
  EXPECT_LE(seen["a"], 5);
  EXPECT_EQ(seen["a"] + seen["b"], 20);
  ASSERT_TRUE(wait_for([&] { return json::parse(admin.get("/v1/upstreams/app/nodes/node1").body)["state"] == "active"; }));
  seen.clear();
  for (int i = 0; i < 20; ++i) ++seen[node_of(client.get("/x"))];
  EXPECT_EQ(seen, (std::map<std::string, int>{{"a", 10}, {"b", 10}}));
}

TEST(admin_api, a_path_with_invalid_utf8_gets_an_answer_not_a_hang) {
  fake_node a({"a"});
  proxy_under_test proxy(admin_test_config({a.port()}, false));
  const auto raw = raw_exchange(proxy.admin_port(),
                                "POST /v1/upstreams/\xff\xfe/nodes/x/drain HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                                2000ms);
  EXPECT_EQ(first_status(raw.received), 404u) << raw.received;
  EXPECT_FALSE(raw.timed_out);
}

TEST(undrain, undraining_a_node_that_is_already_in_rotation_changes_nothing) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}));
  wait_until_all_eligible(proxy);
  test_client admin(proxy.admin_port());
  const auto res = post(admin, "/v1/upstreams/app/nodes/node1/undrain");
  EXPECT_EQ(res.status, 202u);
  EXPECT_EQ(json::parse(res.body)["state"], "active");
  EXPECT_TRUE(proxy.node(0).eligible());  // its health was not reset
}
