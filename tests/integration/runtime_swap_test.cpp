// A runtime published while the proxy serves (what a config reload will do): new requests take it at
// their start, on new and on kept-alive connections alike; a request in progress finishes on the runtime
// it started with; counts go on under the same names.

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <nlohmann/json.hpp>

#include "metrics/totals.hpp"
#include "tests/support/fake_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge;
using namespace drawbridge::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string node_of(const http_response& r) {
  if (r.status != 200) return "status " + std::to_string(r.status) + " " + r.error;
  return json::parse(r.body)["node"];
}

std::uint64_t accepted_on(const proxy::runtime& rt, const std::string& listener) {
  std::uint64_t total = 0;
  if (const auto* shards = rt.metrics->find_listener(listener))
    metrics::for_each_worker(*shards, [&](const metrics::listener_shard& s) { total += s.accepted.value(); });
  return total;
}

std::uint64_t timed_requests_of(const proxy::runtime& rt, const std::string& upstream) {
  metrics::histogram_totals t;
  if (const auto* shards = rt.metrics->find_upstream(upstream))
    metrics::for_each_worker(*shards, [&](const metrics::upstream_shard& s) { t.add(s.request_duration); });
  std::uint64_t total = 0;
  for (const auto b : t.buckets) total += b;
  return total;
}

}  // namespace

TEST(runtime_swap, the_next_request_takes_the_published_runtime_and_one_in_flight_finishes_on_its_own) {
  fake_node_options before_options{.name = "before", .record_header = "X-Step"};
  fake_node before(before_options);
  fake_node after({.name = "after"});
  proxy_under_test proxy({before.port()});
  auto& server = proxy.server();
  const auto first = server.current();

  test_client kept(proxy.port());
  ASSERT_EQ(node_of(kept.get("/one")), "before");

  // A request under way on the first runtime: the node holds its answer for a while.
  auto in_flight = std::async(std::launch::async, [&] {
    test_client slow(proxy.port());
    return slow.request(boost::beast::http::verb::get, "/slow?delay_ms=700", {}, {{"X-Step", "slow"}});
  });
  ASSERT_TRUE(wait_for([&] {
    const auto seen = before.recorded();
    return std::find(seen.begin(), seen.end(), "slow") != seen.end();
  }));

  // The same upstream name, another node: a new runtime sharing the first one's counts.
  auto config = first->config;
  config.upstreams[0].nodes[0].address.port = after.port();
  config.upstreams[0].nodes[0].name = "after";
  auto built = proxy::build_runtime(config, first->metrics);
  ASSERT_TRUE(built.value) << built.errors.front();
  server.publish(built.value);
  ASSERT_TRUE(proxy.wait_for_ticks());

  // The kept-alive connection moves on at its next request, without being closed.
  const auto second = kept.get("/two");
  EXPECT_EQ(node_of(second), "after");
  EXPECT_TRUE(second.keep_alive);
  // A new connection starts on the new runtime.
  test_client fresh(proxy.port());
  EXPECT_EQ(node_of(fresh.get("/three")), "after");
  // The request that started on the first runtime was answered by the first runtime's node.
  EXPECT_EQ(node_of(in_flight.get()), "before");

  // Counted under the listener's and the upstream's names, across both runtimes: three connections,
  // four requests.
  const auto& listener = first->listeners[0]->name;
  EXPECT_EQ(built.value->listeners[0]->name, listener);
  EXPECT_TRUE(wait_for([&] { return timed_requests_of(*server.current(), "app") == 4; }))
      << timed_requests_of(*server.current(), "app");
  EXPECT_EQ(accepted_on(*server.current(), listener), 3u);
}

TEST(runtime_swap, a_runtime_with_its_own_metrics_registry_is_refused) {
  fake_node node({.name = "node1"});
  proxy_under_test proxy({node.port()});
  auto built = proxy::build_runtime(proxy.server().current()->config);
  ASSERT_TRUE(built.value);
  EXPECT_THROW(proxy.server().publish(built.value), std::invalid_argument);
  EXPECT_THROW(proxy.server().publish(nullptr), std::invalid_argument);
  test_client client(proxy.port());
  EXPECT_EQ(node_of(client.get("/x")), "node1");
}
