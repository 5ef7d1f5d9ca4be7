// Version affinity's choice (upstream/balancer.hpp) on a fake node set: which nodes a request may go to
// when it names a version, names none, names one no node has left, and which version is the target.

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "tests/unit/upstream/node_test_access.hpp"
#include "tests/unit/upstream/test_nodes.hpp"
#include "upstream/balancer.hpp"
#include "upstream/node_version.hpp"

using namespace drawbridge;
using namespace drawbridge::upstream;

namespace {

// Nodes n0..n{k-1} reporting these versions ("" = not known yet).
node_list versioned(const std::vector<std::string>& versions) {
  auto nodes = test_nodes(std::vector<std::uint32_t>(versions.size(), 1));
  for (std::size_t i = 0; i < versions.size(); ++i) nodes[i]->learn_version(versions[i]);
  return nodes;
}

std::map<int, int> picks(balancer& b, std::string_view version, int count, tried_set tried = 0,
                         std::int64_t now_ms = 0) {
  std::map<int, int> out;
  for (int i = 0; i < count; ++i) ++out[b.pick({.version = version}, tried, now_ms)];
  return out;
}

conf::upstream_config affinity_config() {
  conf::upstream_config c;
  c.name = "app";
  c.version_affinity.enabled = true;
  return c;
}

// As a rollout does it: drained, restarted (version forgotten), undrained, checked healthy on `version`.
void upgrade(node& n, const std::string& version) {
  node_test_access::set_admin(n, admin_state::drained);
  n.forget_version();
  n.undrain();
  n.learn_version(version);
}

std::uint64_t fallbacks(const std::string& upstream, const std::string& version) {
  for (const auto& f : version_fallbacks())
    if (f.upstream == upstream && f.version == version) return f.count;
  return 0;
}

}  // namespace

TEST(version_affinity, a_named_version_goes_only_to_its_nodes_and_they_share_it_by_the_wrapped_policy) {
  auto nodes = versioned({"1.0", "2.0", "1.0", "2.0"});
  auto b = make_balancer(affinity_config(), nodes, 1);
  EXPECT_EQ(picks(*b, "2.0", 100), (std::map<int, int>{{1, 50}, {3, 50}}));  // round robin inside the version
  EXPECT_EQ(picks(*b, "1.0", 100), (std::map<int, int>{{0, 50}, {2, 50}}));
}

TEST(version_affinity, retries_stay_inside_the_version_until_none_of_its_nodes_is_left) {
  auto nodes = versioned({"1.0", "2.0", "1.0"});
  auto b = make_balancer(affinity_config(), nodes, 1);
  EXPECT_EQ(picks(*b, "1.0", 10, /*tried=*/0b001), (std::map<int, int>{{2, 10}}));
  // Both 1.0 nodes tried: the request may go to the other version.
  EXPECT_EQ(picks(*b, "1.0", 3, /*tried=*/0b101), (std::map<int, int>{{1, 3}}));
}

TEST(version_affinity, a_version_whose_nodes_are_only_busy_waits_for_them_instead_of_moving_to_another) {
  auto nodes = versioned({"1.0", "2.0", "1.0"});
  auto b = make_balancer(affinity_config(), nodes, 1);
  // n0 tried, n2 at max_connections_per_node: wait (no node now) rather than version 2.
  EXPECT_EQ(b->pick({.version = "1.0", .busy = 0b100}, 0b101, 0), no_node);
  EXPECT_TRUE(choose_version(nodes, {.version = "1.0", .busy = 0b100}, 0b101, 0, 0).wait);
  // Without version affinity the same request would go to n1: the other version is not waited for.
  conf::upstream_config plain;
  EXPECT_EQ(make_balancer(plain, nodes, 1)->pick({.version = "1.0", .busy = 0b100}, 0b101, 0), 1);
}

TEST(version_affinity, a_first_visit_does_not_wait_for_the_busy_nodes_of_the_target_version) {
  auto nodes = versioned({"1.0", "1.0"});
  upgrade(*nodes[1], "2.0");  // the target
  auto b = make_balancer(affinity_config(), nodes, 1);
  EXPECT_EQ(picks(*b, "", 4), (std::map<int, int>{{1, 4}}));
  EXPECT_FALSE(choose_version(nodes, {.busy = 0b10}, 0b10, 0, 0).wait);
  EXPECT_EQ(b->pick({.busy = 0b10}, 0b10, 0), 0);  // the target's only node is full: any node
}

TEST(version_affinity, a_version_with_no_eligible_node_left_goes_to_any_node) {
  auto nodes = versioned({"1.0", "2.0", "2.0"});
  auto b = make_balancer(affinity_config(), nodes, 1);
  node_test_access::set_admin(*nodes[0], admin_state::drained);  // the last 1.0 node
  const auto choice = choose_version(nodes, {.version = "1.0"}, 0, 0, 0);
  EXPECT_FALSE(choice.wait);
  EXPECT_EQ(choice.excluded, 0u);
  EXPECT_EQ(picks(*b, "1.0", 10), (std::map<int, int>{{1, 5}, {2, 5}}));
  // So does a version no node has ever reported.
  EXPECT_EQ(picks(*b, "made-up-by-a-client", 4), (std::map<int, int>{{1, 2}, {2, 2}}));
}

TEST(version_affinity, fallbacks_are_labelled_by_a_version_some_node_reported_else_unknown) {
  auto nodes = versioned({"3.0"});
  const auto before_known = fallbacks("labels", "3.0");
  const auto before_unknown = fallbacks("labels", "unknown");
  count_version_fallback("labels", "3.0");
  count_version_fallback("labels", "made-up-by-a-client");
  count_version_fallback("labels", "bad; text");
  EXPECT_EQ(fallbacks("labels", "3.0"), before_known + 1);
  EXPECT_EQ(fallbacks("labels", "unknown"), before_unknown + 2);
  EXPECT_EQ(fallbacks("labels", "made-up-by-a-client"), 0u);  // a client's text never becomes a label
}

TEST(version_affinity, no_version_named_goes_to_the_most_recently_activated_active_version) {
  auto nodes = versioned({"1.0", "1.0", "1.0"});
  auto b = make_balancer(affinity_config(), nodes, 1);
  // Never undrained or added: no target, every node.
  EXPECT_EQ(target_version(nodes, 0, 0), nullptr);
  EXPECT_EQ(picks(*b, "", 30), (std::map<int, int>{{0, 10}, {1, 10}, {2, 10}}));

  // A rollout: n0 upgraded. While it is not healthy yet the target does not move.
  upgrade(*nodes[0], "2.0");
  node_test_access::set_health(*nodes[0], health_state::unknown);
  EXPECT_EQ(target_version(nodes, 0, 0), nullptr);
  EXPECT_EQ(picks(*b, "", 20), (std::map<int, int>{{1, 10}, {2, 10}}));
  // Healthy: new visitors get 2.0, on n0 alone.
  node_test_access::set_health(*nodes[0], health_state::healthy);
  ASSERT_NE(target_version(nodes, 0, 0), nullptr);
  EXPECT_EQ(*target_version(nodes, 0, 0), "2.0");
  EXPECT_EQ(picks(*b, "", 20), (std::map<int, int>{{0, 20}}));
  // Clients that loaded 1.0 keep to the 1.0 nodes meanwhile.
  EXPECT_EQ(picks(*b, "1.0", 20), (std::map<int, int>{{1, 10}, {2, 10}}));

  // n1 next: while it warms, the target is still n0's 2.0; once active, n0 and n1 share it.
  upgrade(*nodes[1], "2.0");
  node_test_access::set_health(*nodes[1], health_state::unknown);
  EXPECT_EQ(*target_version(nodes, 0, 0), "2.0");
  node_test_access::set_health(*nodes[1], health_state::healthy);
  EXPECT_EQ(picks(*b, "", 20), (std::map<int, int>{{0, 10}, {1, 10}}));

  // The most recent node going unhealthy hands the target back to the one before it; with neither, n2
  // (never activated) gives no target: any node.
  node_test_access::set_health(*nodes[1], health_state::unhealthy);
  EXPECT_EQ(*target_version(nodes, 0, 0), "2.0");
  node_test_access::set_health(*nodes[0], health_state::unhealthy);
  EXPECT_EQ(target_version(nodes, 0, 0), nullptr);
  EXPECT_EQ(picks(*b, "", 5), (std::map<int, int>{{2, 5}}));
}

TEST(version_affinity, a_node_still_in_slow_start_or_of_unknown_version_is_not_yet_the_target) {
  auto nodes = versioned({"1.0", "1.0"});
  upgrade(*nodes[0], "1.0");  // the previous target
  upgrade(*nodes[1], "2.0");
  node_test_access::set_ramp_start(*nodes[1], 10'000);  // eligible, ramping up under a 30 s slow start
  EXPECT_EQ(*target_version(nodes, 20'000, 30'000), "1.0");
  EXPECT_EQ(*target_version(nodes, 40'000, 30'000), "2.0");  // slow start over: active
  // Undrained and healthy, its version not told yet (no health check told it): no target, so that any
  // node takes the requests that name none, this one included, and its first answer tells its version.
  nodes[1]->forget_version();
  EXPECT_EQ(target_version(nodes, 40'000, 30'000), nullptr);
}

TEST(version_affinity, a_node_version_is_learned_only_from_a_valid_text_and_is_interned) {
  auto nodes = versioned({"", ""});
  EXPECT_EQ(nodes[0]->version(), nullptr);
  nodes[0]->learn_version("1.9.3-beta+7");
  nodes[1]->learn_version("1.9.3-beta+7");
  ASSERT_NE(nodes[0]->version(), nullptr);
  EXPECT_EQ(nodes[0]->version(), nodes[1]->version());  // one copy, compared by address on the hot path
  // Texts that could break a cookie or a label are not learned; the last good version stays.
  for (const char* bad : {"1.0; Path=/evil", "a b", "v\r\n", "\"quoted\""}) {
    nodes[0]->learn_version(bad);
    EXPECT_EQ(*nodes[0]->version(), "1.9.3-beta+7") << bad;
  }
  EXPECT_FALSE(valid_version(std::string(max_version_length + 1, 'a')));
  EXPECT_TRUE(valid_version(std::string(max_version_length, 'a')));
}

TEST(version_affinity, without_it_the_balancer_ignores_the_named_version) {
  auto nodes = versioned({"1.0", "2.0"});
  conf::upstream_config plain;
  plain.name = "plain";
  auto b = make_balancer(plain, nodes, 1);
  EXPECT_EQ(picks(*b, "1.0", 10), (std::map<int, int>{{0, 5}, {1, 5}}));
}
