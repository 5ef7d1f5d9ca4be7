// What the client sees when nodes fail: the next node, or 502/503/504, and never a replayed POST.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "proxy/request_id.hpp"
#include "tests/integration/proxy_harness.hpp"
#include "tests/support/fake_node.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge::testing;
namespace http = boost::beast::http;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {
// A port that refuses connections: a node that was started and stopped.
std::uint16_t dead_port() {
  fake_node gone({"gone"});
  const auto port = gone.port();
  gone.stop();
  return port;
}
}  // namespace

TEST(failures, node_down_means_the_next_node_answers) {
  fake_node alive({"alive"});
  proxy_under_test proxy({dead_port(), alive.port()});
  test_client client(proxy.port());
  for (int i = 0; i < 6; ++i) {
    const auto res = client.get("/x");
    ASSERT_EQ(res.status, 200u) << res.error;
    EXPECT_EQ(json::parse(res.body)["node"], "alive");
  }
  EXPECT_GE(proxy.rt().upstreams[0]->nodes[0]->connect_failures_total.load(), 1u);
}

TEST(failures, failed_connect_moves_even_a_post_to_the_next_node) {
  fake_node alive({"alive"});
  proxy_under_test proxy({dead_port(), alive.port()});
  test_client client(proxy.port());
  for (int i = 0; i < 4; ++i) {
    const auto res = client.request(http::verb::post, "/upload", "payload");
    ASSERT_EQ(res.status, 200u) << res.error;
    EXPECT_EQ(json::parse(res.body)["bytes"], 7);
  }
}

TEST(failures, every_node_down_answers_503) {
  proxy_under_test proxy({dead_port(), dead_port()});
  test_client client(proxy.port());
  const auto res = client.get("/x");
  EXPECT_EQ(res.status, 503u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "no_node_available");
  EXPECT_TRUE(drawbridge::proxy::is_valid_uuid(std::string(res.headers["X-Request-Id"])));
}

TEST(failures, slow_node_answers_504_after_the_read_timeout) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.timeouts.read = 300ms;
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  const auto res = client.get("/x?delay_ms=3000");
  EXPECT_EQ(res.status, 504u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "gateway_timeout");
}

TEST(failures, node_stalling_before_its_body_gets_504_before_anything_was_sent) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.timeouts.read = 300ms;
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  EXPECT_EQ(client.get("/x?bytes=100&stall_ms=3000").status, 504u);
}

TEST(failures, garbage_response_answers_502) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client client(proxy.port());
  const auto res = client.get("/x?garbage=1");
  EXPECT_EQ(res.status, 502u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "bad_gateway");
}

TEST(failures, idempotent_request_moves_to_the_next_node_when_a_node_resets) {
  fake_node broken({"broken", "127.0.0.1", 0, 0ms, fake_node_options::behaviour::reset});
  fake_node good({"good"});
  proxy_under_test proxy({broken.port(), good.port()});
  test_client client(proxy.port());
  for (int i = 0; i < 4; ++i) {
    const auto res = client.get("/x");
    ASSERT_EQ(res.status, 200u) << res.error;
    EXPECT_EQ(json::parse(res.body)["node"], "good");
  }
  EXPECT_GE(broken.requests(), 1u);
}

TEST(failures, post_that_reached_a_node_is_never_replayed) {
  fake_node broken({"broken", "127.0.0.1", 0, 0ms, fake_node_options::behaviour::reset});
  fake_node good({"good"});
  proxy_under_test proxy({broken.port(), good.port()});
  // Round robin starts with the broken node.
  test_client client(proxy.port());
  const auto res = client.request(http::verb::post, "/upload", "pay me once");
  EXPECT_EQ(res.status, 502u);
  EXPECT_EQ(broken.requests(), 1u);
  EXPECT_EQ(good.requests(), 0u);
}

TEST(failures, garbage_from_one_node_is_not_retried_elsewhere) {
  fake_node broken({"broken", "127.0.0.1", 0, 0ms, fake_node_options::behaviour::garbage});
  fake_node good({"good"});
  proxy_under_test proxy({broken.port(), good.port()});
  test_client client(proxy.port());
  EXPECT_EQ(client.get("/x").status, 502u);
  EXPECT_EQ(good.requests(), 0u);
}
