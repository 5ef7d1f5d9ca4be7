// The upstream and health-check collectors: known shard values in, the exact exposition lines out.

#include "upstream/upstream_collector.hpp"

#include <gtest/gtest.h>

#include "metrics/exposition.hpp"
#include "tests/unit/upstream/node_test_access.hpp"
#include "tests/unit/upstream/test_nodes.hpp"
#include "upstream/health_collector.hpp"

using namespace drawbridge;
using namespace drawbridge::upstream;

namespace {

// A node name no config would accept but the format must survive: a quote, a backslash and a newline.
const std::string odd_name = "we\"ird\\node\nline";

std::shared_ptr<node> make_node(const std::string& name) { return test_node(name); }

std::vector<std::shared_ptr<upstream_group>> make_upstreams(node_list nodes) {
  conf::upstream_config config;
  config.name = "app";
  return {std::make_shared<upstream_group>(config, std::move(nodes))};
}

std::string scrape(const std::vector<std::shared_ptr<upstream_group>>& upstreams, const metrics::registry& workers) {
  return metrics::expose(
      {std::make_shared<upstream_collector>(upstreams, workers), std::make_shared<health_collector>(upstreams)});
}

bool has_line(const std::string& text, const std::string& line) {
  return text.starts_with(line + "\n") || text.find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST(upstream_collector, sums_every_workers_counts_per_node_and_escapes_the_node_label) {
  auto upstreams = make_upstreams({make_node("node1"), make_node(odd_name)});
  metrics::registry workers;
  auto& n1 = *upstreams[0]->nodes()->at(0);
  auto& odd = *upstreams[0]->nodes()->at(1);
  n1.stats.of(0).requests[metrics::code_slot(200)].add(3);
  n1.stats.of(5).requests[metrics::code_slot(200)].add(2);  // another worker's shard
  n1.stats.of(5).connections_new.add(1);
  n1.stats.of(5).connections_reused.add(4);
  n1.stats.of(0).response_duration.observe_ms(2);
  odd.stats.of(0).requests[metrics::code_slot(502)].add(1);
  odd.health_checks_failed.add(7);
  node_test_access::set_health(odd, health_state::unhealthy);
  const auto held = node_test_access::hold(odd, 2);  // two requests in flight while it scrapes
  auto& w = workers.upstream("app").of(1);
  w.requests_without_node[metrics::code_slot(503)].add(4);
  w.retries[static_cast<std::size_t>(metrics::retry_reason::connect_failed)].add(6);

  const auto text = scrape(upstreams, workers);
  for (const char* line : {
           R"(drawbridge_requests_total{upstream="app",node="",code="503"} 4)",
           R"(drawbridge_requests_total{upstream="app",node="node1",code="200"} 5)",
           R"(drawbridge_requests_total{upstream="app",node="we\"ird\\node\nline",code="502"} 1)",
           R"(drawbridge_retries_total{upstream="app",reason="connect_failed"} 6)",
           R"(drawbridge_retries_total{upstream="app",reason="gateway_error"} 0)",
           R"(drawbridge_upstream_response_duration_seconds_bucket{upstream="app",node="node1",le="0.001"} 0)",
           R"(drawbridge_upstream_response_duration_seconds_bucket{upstream="app",node="node1",le="0.0025"} 1)",
           R"(drawbridge_upstream_response_duration_seconds_count{upstream="app",node="node1"} 1)",
           R"(drawbridge_upstream_connections_total{upstream="app",node="node1",reused="false"} 1)",
           R"(drawbridge_upstream_connections_total{upstream="app",node="node1",reused="true"} 4)",
           R"(drawbridge_node_in_flight{upstream="app",node="we\"ird\\node\nline"} 2)",
           R"(drawbridge_node_state{upstream="app",node="we\"ird\\node\nline",state="unhealthy"} 1)",
           R"(drawbridge_node_state{upstream="app",node="we\"ird\\node\nline",state="active"} 0)",
           R"(drawbridge_upstream_eligible_nodes{upstream="app"} 1)",
           R"(drawbridge_node_healthy{upstream="app",node="we\"ird\\node\nline"} 0)",
           R"(drawbridge_health_checks_total{upstream="app",node="we\"ird\\node\nline",result="failed"} 7)",
           R"(drawbridge_health_checks_total{upstream="app",node="node1",result="passed"} 0)",
       })
    EXPECT_TRUE(has_line(text, line)) << line << "\nnot in:\n" << text;
  // A code no node answered with has no series.
  EXPECT_EQ(text.find(R"(node="node1",code="502")"), std::string::npos);
}

TEST(upstream_collector, a_node_published_after_the_collector_was_made_shows_at_the_next_scrape) {
  auto upstreams = make_upstreams({make_node("node1")});
  metrics::registry workers;
  const metrics::collector_list collectors = {std::make_shared<upstream_collector>(upstreams, workers)};
  EXPECT_EQ(metrics::expose(collectors).find(R"(node="node2")"), std::string::npos);

  auto added = make_node("node2");
  added->stats.of(0).requests[metrics::code_slot(201)].add(1);
  auto nodes = *upstreams[0]->nodes();
  nodes.push_back(added);
  upstreams[0]->publish(std::move(nodes));
  const auto text = metrics::expose(collectors);
  EXPECT_TRUE(has_line(text, R"(drawbridge_requests_total{upstream="app",node="node2",code="201"} 1)")) << text;
  EXPECT_TRUE(has_line(text, R"(drawbridge_node_in_flight{upstream="app",node="node2"} 0)")) << text;
}
