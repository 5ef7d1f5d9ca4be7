#include "upstream/balancer.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "tests/unit/upstream/node_test_access.hpp"
#include "tests/unit/upstream/test_nodes.hpp"

using namespace drawbridge::upstream;

namespace {

node_list make_nodes(const std::vector<std::uint32_t>& weights) { return test_nodes(weights); }

std::map<int, int> count_picks(balancer& b, int picks, tried_set tried = 0) {
  std::map<int, int> counts;
  for (int i = 0; i < picks; ++i) ++counts[b.pick({}, tried, 0)];
  return counts;
}

}  // namespace

TEST(round_robin, equal_weights_take_turns) {
  round_robin_balancer b(make_nodes({1, 1, 1}), 0);
  std::vector<int> seq;
  seq.reserve(6);
  for (int i = 0; i < 6; ++i) seq.push_back(b.pick({}, 0, 0));
  EXPECT_EQ(seq, (std::vector<int>{0, 1, 2, 0, 1, 2}));
}

TEST(round_robin, weights_are_respected_and_spread_smoothly) {
  round_robin_balancer b(make_nodes({5, 1, 1}), 0);
  std::vector<int> seq;
  seq.reserve(7);
  for (int i = 0; i < 7; ++i) seq.push_back(b.pick({}, 0, 0));
  // The smooth variant never gives the heavy node more than its share in a burst.
  EXPECT_EQ(seq, (std::vector<int>{0, 0, 1, 0, 2, 0, 0}));
  const auto counts = count_picks(b, 7000);
  EXPECT_EQ(counts.at(0), 5000);
  EXPECT_EQ(counts.at(1), 1000);
  EXPECT_EQ(counts.at(2), 1000);
}

TEST(round_robin, ineligible_and_tried_nodes_are_skipped) {
  auto nodes = make_nodes({1, 1, 1});
  round_robin_balancer b(nodes, 0);
  node_test_access::set_admin(*nodes[1], admin_state::draining);
  auto counts = count_picks(b, 100);
  EXPECT_EQ(counts.count(1), 0u);
  EXPECT_EQ(counts[0] + counts[2], 100);
  node_test_access::set_admin(*nodes[1], admin_state::ready);
  node_test_access::set_health(*nodes[2], health_state::unhealthy);
  counts = count_picks(b, 100, /*tried=*/1);  // node 0 tried
  EXPECT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[1], 100);
}

TEST(round_robin, no_eligible_node_yields_no_node) {
  auto nodes = make_nodes({1, 1});
  round_robin_balancer b(nodes, 0);
  node_test_access::set_health(*nodes[0], health_state::unhealthy);
  EXPECT_EQ(b.pick({}, 0b10, 0), no_node);
}

TEST(least_request, prefers_the_node_with_fewer_requests_in_flight) {
  auto nodes = make_nodes({1, 1});
  least_request_balancer b(nodes, 0, 42);
  const auto held = node_test_access::hold(*nodes[0], 10);
  // With two nodes both candidates are always compared: the idle one wins every time.
  const auto counts = count_picks(b, 200);
  EXPECT_EQ(counts.at(1), 200);
}

TEST(least_request, spreads_evenly_when_loads_are_equal) {
  auto nodes = make_nodes({1, 1, 1, 1});
  least_request_balancer b(nodes, 0, 7);
  const auto counts = count_picks(b, 40000);
  for (int i = 0; i < 4; ++i) {
    EXPECT_GT(counts.at(i), 9000) << i;
    EXPECT_LT(counts.at(i), 11000) << i;
  }
}

TEST(least_request, weights_scale_the_load_comparison) {
  auto nodes = make_nodes({4, 1});
  least_request_balancer b(nodes, 0, 3);
  const auto held0 = node_test_access::hold(*nodes[0], 3);  // 3/4 per unit of weight
  const auto held1 = node_test_access::hold(*nodes[1], 1);  // 1/1
  EXPECT_EQ(count_picks(b, 50).at(0), 50);
}

TEST(least_request, skips_tried_and_ineligible_nodes) {
  auto nodes = make_nodes({1, 1, 1});
  least_request_balancer b(nodes, 0, 9);
  node_test_access::set_admin(*nodes[2], admin_state::drained);
  const auto counts = count_picks(b, 100, /*tried=*/1);
  EXPECT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts.at(1), 100);
  EXPECT_EQ(b.pick({}, 0b011, 0), no_node);
}

TEST(node, warnings_are_due_at_most_once_per_interval) {
  auto nodes = make_nodes({1});
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(nodes[0]->warning_due(t0, std::chrono::seconds(1)));
  EXPECT_FALSE(nodes[0]->warning_due(t0 + std::chrono::milliseconds(10), std::chrono::seconds(1)));
  EXPECT_FALSE(nodes[0]->warning_due(t0 + std::chrono::milliseconds(999), std::chrono::seconds(1)));
  EXPECT_TRUE(nodes[0]->warning_due(t0 + std::chrono::milliseconds(1000), std::chrono::seconds(1)));
}

TEST(node, a_due_warning_says_how_many_were_held_back_since_the_last) {
  auto nodes = make_nodes({1, 1});
  const auto t0 = std::chrono::steady_clock::now();
  const auto at = [&](int ms) { return t0 + std::chrono::milliseconds(ms); };
  EXPECT_EQ(nodes[0]->warning_due(at(0), std::chrono::seconds(1)), 0u);
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(nodes[0]->warning_due(at(i * 100), std::chrono::seconds(1)), std::nullopt);
  EXPECT_EQ(nodes[1]->warning_due(at(500), std::chrono::seconds(1)), 0u);  // each node has its own
  EXPECT_EQ(nodes[0]->warning_due(at(1000), std::chrono::seconds(1)), 5u);
  EXPECT_EQ(nodes[0]->warning_due(at(2500), std::chrono::seconds(1)), 0u);  // the count starts again
  EXPECT_EQ(drawbridge::upstream::suppressed_note(0), "");
  EXPECT_EQ(drawbridge::upstream::suppressed_note(5), " (5 similar suppressed)");
}

TEST(slow_start, a_ramping_node_gets_a_share_that_grows_linearly) {
  auto nodes = make_nodes({1, 1});
  round_robin_balancer b(nodes, /*slow_start_ms=*/10'000);
  node_test_access::set_ramp_start(*nodes[1], 100'000);
  // A quarter of the way through the ramp, node 1 has a quarter of node 0's weight: 1 pick in 5.
  std::map<int, int> counts;
  for (int i = 0; i < 5000; ++i) ++counts[b.pick({}, 0, 102'500)];
  EXPECT_EQ(counts.at(1), 1000);
  EXPECT_EQ(counts.at(0), 4000);
  // Once the ramp is over it takes its full turn.
  counts.clear();
  for (int i = 0; i < 1000; ++i) ++counts[b.pick({}, 0, 110'000)];
  EXPECT_EQ(counts.at(1), 500);
}

TEST(slow_start, least_request_weighs_a_ramping_node_down) {
  auto nodes = make_nodes({1, 1});
  least_request_balancer b(nodes, /*slow_start_ms=*/10'000, 5);
  node_test_access::set_ramp_start(*nodes[0], 0);  // 1% into its ramp at t=100
  const auto held0 = node_test_access::hold(*nodes[0], 0);
  const auto held1 = node_test_access::hold(*nodes[1], 5);  // busier, but at full weight
  std::map<int, int> counts;
  for (int i = 0; i < 100; ++i) ++counts[b.pick({}, 0, 100)];
  EXPECT_EQ(counts.at(1), 100);
}

TEST(node_state, the_display_word_follows_admin_state_then_ejection_then_health_then_ramp) {
  auto n = make_nodes({1})[0];
  EXPECT_EQ(n->state(0, 0), node_state::active);
  node_test_access::set_health(*n, health_state::unknown);
  EXPECT_EQ(n->state(0, 0), node_state::warming);
  node_test_access::set_health(*n, health_state::unhealthy);
  EXPECT_EQ(n->state(0, 0), node_state::unhealthy);
  node_test_access::set_ejected(*n, true);
  EXPECT_EQ(n->state(0, 0), node_state::ejected);
  node_test_access::set_admin(*n, admin_state::draining);
  EXPECT_EQ(n->state(0, 0), node_state::draining);
  node_test_access::set_admin(*n, admin_state::drained);
  EXPECT_EQ(n->state(0, 0), node_state::drained);
  node_test_access::set_admin(*n, admin_state::ready);
  node_test_access::set_ejected(*n, false);
  node_test_access::set_health(*n, health_state::healthy);
  node_test_access::set_ramp_start(*n, 1000);
  EXPECT_EQ(n->state(2000, 30'000), node_state::warming);
  EXPECT_EQ(n->state(31'000, 30'000), node_state::active);
}
