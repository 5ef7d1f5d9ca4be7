// A runtime published while the proxy serves (the data plane's half of a config reload): new requests
// take it at their start, on new and on kept-alive connections alike, without a connection being closed;
// a request in progress is not disturbed; counts go on under the same names. What the workers cannot take
// yet is refused with every reason named, and the running runtime stays.

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <nlohmann/json.hpp>
#include <set>

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

// Upstream "app" on `app_port` (routed to by "/") and "other" on `other_port`.
conf::config two_upstreams(std::uint16_t app_port, std::uint16_t other_port) {
  auto config = test_config({app_port});
  auto other = config.upstreams[0];
  other.name = "other";
  other.nodes = {{"other1", conf::host_port{"127.0.0.1", other_port}, 1}};
  config.upstreams.push_back(other);
  return config;
}

}  // namespace

TEST(runtime_swap, the_next_request_takes_the_published_runtime_and_one_in_flight_is_not_disturbed) {
  fake_node app({.name = "app1", .record_header = "X-Step"});
  fake_node other({.name = "other1"});
  proxy_under_test proxy(two_upstreams(app.port(), other.port()));
  auto& server = proxy.server();
  const auto first = server.current();

  test_client kept(proxy.port());
  ASSERT_EQ(node_of(kept.get("/one")), "app1");

  // A request under way on the first runtime: the node holds its answer for a while.
  test_client slow(proxy.port());
  auto in_flight = std::async(std::launch::async, [&] {
    return slow.request(boost::beast::http::verb::get, "/slow?delay_ms=700", {}, {{"X-Step", "slow"}});
  });
  ASSERT_TRUE(wait_for([&] {
    const auto seen = app.recorded();
    return std::find(seen.begin(), seen.end(), "slow") != seen.end();
  }));

  // The same config but for its route: "/" goes to "other" now.
  auto config = first->config;
  config.routes[0].upstream = "other";
  auto built = proxy::build_runtime(config, first.get());
  ASSERT_TRUE(built.value) << built.errors.front();
  // Unchanged listeners and upstreams are taken over as they are, not built again.
  EXPECT_EQ(built.value->listeners[0], first->listeners[0]);
  EXPECT_EQ(built.value->upstreams[0], first->upstreams[0]);
  EXPECT_EQ(built.value->upstreams[1], first->upstreams[1]);
  server.publish(built.value);
  EXPECT_EQ(server.current(), built.value);
  ASSERT_TRUE(proxy.wait_for_ticks());

  // The kept-alive connection moves on at its next request, and stays open.
  const auto second = kept.get("/two");
  EXPECT_EQ(node_of(second), "other1");
  EXPECT_TRUE(second.keep_alive);
  // A new connection starts on the new runtime.
  test_client fresh(proxy.port());
  EXPECT_EQ(node_of(fresh.get("/three")), "other1");
  // The request that was under way was answered whole, and its connection moves on too.
  const auto answered = in_flight.get();
  EXPECT_EQ(node_of(answered), "app1");
  EXPECT_TRUE(answered.keep_alive);
  EXPECT_EQ(node_of(slow.get("/four")), "other1");

  // Counted under the upstreams' and the listener's names, across both runtimes: three connections, two
  // requests to "app" and three to "other".
  EXPECT_TRUE(wait_for([&] { return timed_requests_of(*server.current(), "other") == 3; }))
      << timed_requests_of(*server.current(), "other");
  EXPECT_EQ(timed_requests_of(*server.current(), "app"), 2u);
  EXPECT_EQ(accepted_on(*server.current(), first->listeners[0]->name), 3u);
}

TEST(runtime_swap, what_the_workers_cannot_take_is_refused_naming_each_reason_and_the_runtime_stays) {
  fake_node app({.name = "app1"});
  fake_node other({.name = "other1"});
  proxy_under_test proxy(two_upstreams(app.port(), other.port()));
  auto& server = proxy.server();
  const auto first = server.current();
  auto refusal = [&](std::shared_ptr<const proxy::runtime> next) -> std::string {
    try {
      server.publish(std::move(next));
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "published";
  };

  // Built afresh, without the running runtime: nothing is taken over, not even the counts.
  auto fresh = proxy::build_runtime(first->config);
  ASSERT_TRUE(fresh.value);
  const auto all_new = refusal(fresh.value);
  EXPECT_EQ(all_new, "the new runtime must share the metrics registry");

  // An upstream removed is fine; settings read once at start-up are not.
  auto config = first->config;
  config.upstreams.pop_back();
  config.workers = 3;
  config.state_file = "/tmp/elsewhere.json";
  auto smaller = proxy::build_runtime(config, first.get());
  ASSERT_TRUE(smaller.value);
  const auto two = refusal(smaller.value);
  EXPECT_EQ(two,
            "workers: read once at start-up; a change needs a restart or a binary upgrade; "
            "state_file: read once at start-up; a change needs a restart or a binary upgrade");

  EXPECT_EQ(refusal(nullptr), "no runtime to publish");
  EXPECT_EQ(server.current(), first);
  test_client client(proxy.port());
  EXPECT_EQ(node_of(client.get("/x")), "app1");
}

TEST(runtime_swap, a_changed_upstream_is_a_new_group_that_takes_its_nodes_over) {
  fake_node app({.name = "app1"});
  fake_node other({.name = "other1"});
  fake_node third({.name = "other2"});
  proxy_under_test proxy(two_upstreams(app.port(), other.port()));
  auto& server = proxy.server();
  const auto first = server.current();
  test_client kept(proxy.port());
  ASSERT_EQ(node_of(kept.get("/one")), "app1");

  // "other" gets a second node and a route; "app" is left as it was.
  auto config = first->config;
  config.upstreams[1].nodes.push_back({"other2", conf::host_port{"127.0.0.1", third.port()}, 3});
  config.routes.insert(config.routes.begin(), conf::route_config{std::nullopt, "/o/", "other"});
  auto built = proxy::build_runtime(config, first.get());
  ASSERT_TRUE(built.value) << built.errors.front();
  const auto& next = *built.value;
  EXPECT_EQ(next.upstreams[0], first->upstreams[0]);
  ASSERT_NE(next.upstreams[1], first->upstreams[1]);
  // The node that stays is the very same object (its state, counts and in-flight requests go on).
  ASSERT_EQ(next.upstreams[1]->nodes()->size(), 2u);
  EXPECT_EQ(next.upstreams[1]->nodes()->at(0), first->upstreams[1]->nodes()->at(0));
  EXPECT_EQ(next.upstreams[1]->nodes()->at(1)->name(), "other2");
  server.publish(built.value);

  std::set<std::string> seen;
  for (int i = 0; i < 8; ++i) seen.insert(node_of(kept.get("/o/x")));
  EXPECT_EQ(seen, (std::set<std::string>{"other1", "other2"}));
  EXPECT_EQ(node_of(kept.get("/elsewhere")), "app1");
}
