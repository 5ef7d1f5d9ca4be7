#include "upstream/balancer.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

using namespace drawbridge::upstream;

namespace {

std::vector<std::shared_ptr<node>> make_nodes(std::vector<std::uint32_t> weights) {
  std::vector<std::shared_ptr<node>> nodes;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    std::string name = "n";  // built in two steps: g++ 12 warns falsely on "n" + to_string(i)
    name += std::to_string(i);
    nodes.push_back(std::make_shared<node>(name, drawbridge::conf::host_port{"127.0.0.1", 1}, weights[i],
                                           std::vector<boost::asio::ip::tcp::endpoint>{}));
  }
  return nodes;
}

std::map<int, int> count_picks(balancer& b, int picks, tried_set tried = 0) {
  std::map<int, int> counts;
  for (int i = 0; i < picks; ++i) ++counts[b.pick(tried)];
  return counts;
}

}  // namespace

TEST(round_robin, equal_weights_take_turns) {
  round_robin_balancer b(make_nodes({1, 1, 1}));
  std::vector<int> seq;
  for (int i = 0; i < 6; ++i) seq.push_back(b.pick(0));
  EXPECT_EQ(seq, (std::vector<int>{0, 1, 2, 0, 1, 2}));
}

TEST(round_robin, weights_are_respected_and_spread_smoothly) {
  round_robin_balancer b(make_nodes({5, 1, 1}));
  std::vector<int> seq;
  for (int i = 0; i < 7; ++i) seq.push_back(b.pick(0));
  // The smooth variant never gives the heavy node more than its share in a burst.
  EXPECT_EQ(seq, (std::vector<int>{0, 0, 1, 0, 2, 0, 0}));
  const auto counts = count_picks(b, 7000);
  EXPECT_EQ(counts.at(0), 5000);
  EXPECT_EQ(counts.at(1), 1000);
  EXPECT_EQ(counts.at(2), 1000);
}

TEST(round_robin, ineligible_and_tried_nodes_are_skipped) {
  auto nodes = make_nodes({1, 1, 1});
  round_robin_balancer b(nodes);
  nodes[1]->admin = admin_state::draining;
  auto counts = count_picks(b, 100);
  EXPECT_EQ(counts.count(1), 0u);
  EXPECT_EQ(counts[0] + counts[2], 100);
  nodes[1]->admin = admin_state::ready;
  nodes[2]->health = health_state::unhealthy;
  counts = count_picks(b, 100, /*tried=*/1);  // node 0 tried
  EXPECT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[1], 100);
}

TEST(round_robin, no_eligible_node_yields_no_node) {
  auto nodes = make_nodes({1, 1});
  round_robin_balancer b(nodes);
  nodes[0]->health = health_state::unhealthy;
  EXPECT_EQ(b.pick(0b10), no_node);
}

TEST(least_request, prefers_the_node_with_fewer_requests_in_flight) {
  auto nodes = make_nodes({1, 1});
  least_request_balancer b(nodes, 42);
  nodes[0]->in_flight = 10;
  // With two nodes both candidates are always compared: the idle one wins every time.
  const auto counts = count_picks(b, 200);
  EXPECT_EQ(counts.at(1), 200);
}

TEST(least_request, spreads_evenly_when_loads_are_equal) {
  auto nodes = make_nodes({1, 1, 1, 1});
  least_request_balancer b(nodes, 7);
  const auto counts = count_picks(b, 40000);
  for (int i = 0; i < 4; ++i) {
    EXPECT_GT(counts.at(i), 9000) << i;
    EXPECT_LT(counts.at(i), 11000) << i;
  }
}

TEST(least_request, weights_scale_the_load_comparison) {
  auto nodes = make_nodes({4, 1});
  least_request_balancer b(nodes, 3);
  nodes[0]->in_flight = 3;  // 3/4 per unit of weight
  nodes[1]->in_flight = 1;  // 1/1
  EXPECT_EQ(count_picks(b, 50).at(0), 50);
}

TEST(least_request, skips_tried_and_ineligible_nodes) {
  auto nodes = make_nodes({1, 1, 1});
  least_request_balancer b(nodes, 9);
  nodes[2]->admin = admin_state::drained;
  const auto counts = count_picks(b, 100, /*tried=*/1);
  EXPECT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts.at(1), 100);
  EXPECT_EQ(b.pick(0b011), no_node);
}

TEST(node, warnings_are_due_at_most_once_per_interval) {
  auto nodes = make_nodes({1});
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(nodes[0]->warning_due(t0, std::chrono::seconds(1)));
  EXPECT_FALSE(nodes[0]->warning_due(t0 + std::chrono::milliseconds(10), std::chrono::seconds(1)));
  EXPECT_FALSE(nodes[0]->warning_due(t0 + std::chrono::milliseconds(999), std::chrono::seconds(1)));
  EXPECT_TRUE(nodes[0]->warning_due(t0 + std::chrono::milliseconds(1000), std::chrono::seconds(1)));
}
