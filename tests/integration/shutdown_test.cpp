// Graceful stop: in-flight requests finish, idle connections close, new connections are refused.

#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>

#include "tests/support/fake_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(shutdown, graceful_stop_finishes_an_in_flight_request) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  auto in_flight = std::async(std::launch::async, [&] {
    test_client client(proxy.port());
    return client.get("/slow?delay_ms=700");
  });
  const auto& n = *proxy.rt().upstreams[0]->nodes()->at(0);
  ASSERT_TRUE(wait_for([&] { return n.in_flight.load() == 1; }));
  proxy.stop();
  const auto res = in_flight.get();
  EXPECT_EQ(res.status, 200u) << res.error;
  EXPECT_FALSE(res.keep_alive);  // told to go away after this response
  proxy.wait();
  test_client late(proxy.port());
  EXPECT_FALSE(late.connected());
}

TEST(shutdown, a_request_on_an_idle_keep_alive_connection_gets_a_last_answer_with_connection_close) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client idle(proxy.port());
  ASSERT_EQ(idle.get("/x").status, 200u);
  proxy.stop();
  // The worker has begun stopping once its listener refuses connections.
  ASSERT_TRUE(wait_for([&] { return !test_client(proxy.port()).connected(); }));
  // A client that sends its next request as the stop begins is answered, and told to go.
  const auto last = idle.get("/y");
  EXPECT_EQ(last.status, 200u) << last.error;
  EXPECT_FALSE(last.keep_alive);
  proxy.wait();
}

TEST(shutdown, idle_keep_alive_connections_are_closed_after_the_last_call) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client idle(proxy.port());
  ASSERT_EQ(idle.get("/x").status, 200u);
  const auto started = std::chrono::steady_clock::now();
  proxy.stop();
  proxy.wait();
  // Well under shutdown_grace (5 s in tests): the idle connection was closed after idle_stop_linger (1 s).
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST(shutdown, grace_expiry_cuts_requests_that_take_too_long) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.timeouts.shutdown_grace = 300ms;
  proxy_under_test proxy(config);
  auto in_flight = std::async(std::launch::async, [&] {
    test_client client(proxy.port());
    return client.get("/slow?delay_ms=4000");
  });
  const auto& n = *proxy.rt().upstreams[0]->nodes()->at(0);
  ASSERT_TRUE(wait_for([&] { return n.in_flight.load() == 1; }));
  const auto started = std::chrono::steady_clock::now();
  proxy.stop();
  proxy.wait();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_EQ(in_flight.get().status, 0u);
}

TEST(shutdown, sigterm_makes_the_binary_exit_0_after_finishing_in_flight_requests) {
  fake_node node({"node1"});
  spawned_proxy proxy(single_node_config_json(node.port(), /*workers=*/2));
  ASSERT_TRUE(proxy.started()) << proxy.output();
  auto in_flight = std::async(std::launch::async, [&] {
    test_client client(proxy.port());
    return client.get("/slow?delay_ms=700");
  });
  ASSERT_TRUE(wait_for([&] { return node.requests() == 1; }));
  EXPECT_EQ(proxy.terminate(), 0);
  EXPECT_EQ(in_flight.get().status, 200u);
}
