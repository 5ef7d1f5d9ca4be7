// Keep-alive towards the nodes: reuse, eviction, and the retry on a connection the node dropped.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/fake_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(keepalive, node_sees_one_connection_for_100_sequential_requests) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client client(proxy.port());
  for (int i = 0; i < 100; ++i) ASSERT_EQ(client.get("/x").status, 200u) << i;
  EXPECT_EQ(node.connections(), 1u);
  EXPECT_EQ(node.requests(), 100u);
}

TEST(keepalive, each_new_client_connection_reuses_the_pooled_node_connection) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  for (int i = 0; i < 20; ++i) {
    test_client client(proxy.port());
    ASSERT_EQ(client.get("/x").status, 200u);
  }
  EXPECT_EQ(node.connections(), 1u);
}

TEST(keepalive, connection_the_node_closes_is_not_reused) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client client(proxy.port());
  ASSERT_EQ(client.get("/x?close=1").status, 200u);
  const auto res = client.get("/x");
  ASSERT_EQ(res.status, 200u) << res.error;
  EXPECT_EQ(json::parse(res.body)["connection"], 2);
  EXPECT_EQ(node.connections(), 2u);
}

TEST(keepalive, request_on_a_pooled_connection_the_node_dropped_is_retried_on_a_fresh_one) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client client(proxy.port());
  // The node keeps this connection open but drops it, unanswered, when the next request arrives.
  ASSERT_EQ(client.get("/x?die_on_next=1").status, 200u);
  const auto res = client.get("/y");
  ASSERT_EQ(res.status, 200u) << res.error;
  EXPECT_EQ(json::parse(res.body)["connection"], 2);
  EXPECT_EQ(node.connections(), 2u);
}

// The node closes right after an answer that said nothing of it. The pool must not hand that connection to
// a request it could not send again: the POST goes out on a fresh connection and is answered.
TEST(keepalive, a_connection_the_node_closed_silently_is_not_given_to_a_post) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client client(proxy.port());
  ASSERT_EQ(client.get("/x?silent_close=1").status, 200u);
  ASSERT_TRUE(wait_for([&] { return node.open_connections() == 0; }));  // the node has closed it
  const auto res = client.request(boost::beast::http::verb::post, "/upload", std::string(1000, 'p'));
  ASSERT_EQ(res.status, 200u) << res.error;
  EXPECT_EQ(node.connections(), 2u);
}

// The same for GETs sent at once, before the worker may have seen the close: each is answered (a GET
// that met the dead connection is sent again on a fresh one).
TEST(keepalive, gets_right_after_a_silent_close_are_answered) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client client(proxy.port());
  for (int i = 0; i < 20; ++i) {
    const auto res = client.get("/x?silent_close=1");
    ASSERT_EQ(res.status, 200u) << i << ": " << res.error;
  }
  EXPECT_EQ(node.connections(), 20u);
}

TEST(keepalive, max_requests_retires_a_node_connection) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.upstreams[0].keepalive.max_requests = 10;
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  for (int i = 0; i < 25; ++i) ASSERT_EQ(client.get("/x").status, 200u);
  EXPECT_EQ(node.connections(), 3u);
}

TEST(keepalive, pooling_can_be_turned_off) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.upstreams[0].keepalive.max_idle_per_node = 0;
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  for (int i = 0; i < 5; ++i) ASSERT_EQ(client.get("/x").status, 200u);
  EXPECT_EQ(node.connections(), 5u);
}

TEST(keepalive, idle_node_connections_expire_after_idle_timeout) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.upstreams[0].keepalive.idle_timeout = 200ms;
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  ASSERT_EQ(client.get("/x").status, 200u);
  // The worker's sweep closes the expired connection; the node sees it go.
  ASSERT_TRUE(wait_for([&] { return node.open_connections() == 0; }, 5000ms));
  ASSERT_EQ(client.get("/x").status, 200u);
  EXPECT_EQ(node.connections(), 2u);
}

TEST(keepalive, pipelined_requests_are_answered_in_order) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  const auto raw = raw_exchange(proxy.port(),
                                "GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
                                "GET /second?delay_ms=50 HTTP/1.1\r\nHost: a\r\n\r\n"
                                "GET /third HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  const auto first = raw.received.find("\"path\":\"/first\"");
  const auto second = raw.received.find("\"path\":\"/second?delay_ms=50\"");
  const auto third = raw.received.find("\"path\":\"/third\"");
  ASSERT_NE(first, std::string::npos) << raw.received;
  ASSERT_NE(second, std::string::npos) << raw.received;
  ASSERT_NE(third, std::string::npos) << raw.received;
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_FALSE(raw.timed_out);
}

TEST(keepalive, requests_pipelined_after_connection_close_are_not_answered_and_the_answer_arrives_whole) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  const auto raw = raw_exchange(proxy.port(),
                                "GET /last?bytes=200000 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                                "POST /ignored HTTP/1.1\r\nHost: a\r\nContent-Length: 300000\r\n\r\n" +
                                    std::string(300000, 'p'));
  EXPECT_EQ(first_status(raw.received), 200u);
  EXPECT_FALSE(raw.reset) << "closed with unread input: the kernel's reset can destroy the answer";
  EXPECT_FALSE(raw.timed_out);
  const auto body_at = raw.received.find("\r\n\r\n");
  ASSERT_NE(body_at, std::string::npos);
  EXPECT_EQ(raw.received.size() - body_at - 4, 200000u);
  EXPECT_EQ(node.requests(), 1u);
}
