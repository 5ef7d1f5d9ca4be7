// Body and header limits, and the client-side timeouts.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/fake_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(limits, content_length_over_max_body_size_gets_413_and_reaches_no_node) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.limits.max_body_size = 1000;
  proxy_under_test proxy(config);
  const auto raw = raw_exchange(proxy.port(), "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n");
  EXPECT_EQ(first_status(raw.received), 413u) << raw.received;
  EXPECT_NE(raw.received.find("body_too_large"), std::string::npos);
  EXPECT_FALSE(raw.timed_out);  // the connection was closed
  EXPECT_EQ(node.requests(), 0u);
  EXPECT_EQ(node.connections(), 0u);
}

TEST(limits, body_at_exactly_max_body_size_passes) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.limits.max_body_size = 1000;
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  const auto res = client.request(boost::beast::http::verb::post, "/upload", std::string(1000, 'a'));
  ASSERT_EQ(res.status, 200u) << res.error;
  EXPECT_EQ(json::parse(res.body)["bytes"], 1000);
}

TEST(limits, chunked_body_crossing_max_body_size_gets_413_and_the_node_connection_is_dropped) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.limits.max_body_size = 1000;
  proxy_under_test proxy(config);
  std::string request = "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) request += "190\r\n" + std::string(400, 'b') + "\r\n";
  request += "0\r\n\r\n";
  const auto raw = raw_exchange(proxy.port(), request);
  EXPECT_EQ(first_status(raw.received), 413u) << raw.received;
  // The node got a partial body: the proxy closes that connection rather than pool it.
  EXPECT_TRUE(wait_for([&] { return node.open_connections() == 0; }));
}

TEST(limits, header_over_max_header_size_gets_431) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.limits.max_header_size = 2048;
  proxy_under_test proxy(config);
  const auto raw =
      raw_exchange(proxy.port(), "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(3000, 'x') + "\r\n\r\n");
  EXPECT_EQ(first_status(raw.received), 431u) << raw.received;
  EXPECT_EQ(node.requests(), 0u);
}

TEST(limits, header_just_under_max_header_size_passes) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.limits.max_header_size = 2048;
  proxy_under_test proxy(config);
  const auto raw = raw_exchange(
      proxy.port(), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Big: " + std::string(1900, 'x') + "\r\n\r\n");
  EXPECT_EQ(first_status(raw.received), 200u) << raw.received;
}

TEST(limits, client_too_slow_with_its_header_gets_408) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.timeouts.client_header = 300ms;
  proxy_under_test proxy(config);
  const auto raw = raw_exchange(proxy.port(), "GET / HTTP/1.1\r\nHost: a\r\n", 5000ms);
  EXPECT_EQ(first_status(raw.received), 408u) << raw.received;
  EXPECT_FALSE(raw.timed_out);
  EXPECT_EQ(node.requests(), 0u);
}

TEST(limits, idle_keep_alive_connection_is_closed_silently_after_client_idle) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.timeouts.client_idle = 300ms;
  proxy_under_test proxy(config);
  const auto raw = raw_exchange(proxy.port(), "", 5000ms);
  EXPECT_TRUE(raw.received.empty()) << raw.received;
  EXPECT_FALSE(raw.timed_out);
}

TEST(limits, max_connections_refuses_connections_beyond_the_limit) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.limits.max_connections = 2;
  proxy_under_test proxy(config);
  test_client a(proxy.port()), b(proxy.port());
  ASSERT_EQ(a.get("/x").status, 200u);
  ASSERT_EQ(b.get("/x").status, 200u);
  test_client c(proxy.port());
  EXPECT_EQ(c.get("/x").status, 0u);
  EXPECT_EQ(a.get("/x").status, 200u);
}
