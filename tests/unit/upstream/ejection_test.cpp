#include <gtest/gtest.h>

#include "tests/unit/upstream/test_nodes.hpp"
#include "upstream/upstream_group.hpp"

using namespace drawbridge;
using namespace drawbridge::upstream;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<upstream_group> make_group(int nodes, std::uint32_t min_available, std::uint32_t max_failures = 3) {
  conf::upstream_config config;
  config.min_available = min_available;
  config.passive.max_failures = max_failures;
  config.passive.ejection_time = 10s;
  config.passive.max_ejection_time = 35s;
  return test_group(config, nodes);
}

}  // namespace

TEST(ejection, a_node_is_ejected_after_max_failures_in_a_row) {
  auto group = make_group(3, 1);
  auto& n = *group->nodes()->at(0);
  EXPECT_FALSE(group->record_failure(n, 0));
  EXPECT_FALSE(group->record_failure(n, 0));
  EXPECT_TRUE(group->record_failure(n, 0));
  EXPECT_TRUE(n.ejected);
  EXPECT_FALSE(n.eligible());
  EXPECT_EQ(n.state(0, 0), node_state::ejected);
  EXPECT_EQ(n.failures_total, 3u);
}

TEST(ejection, a_success_ends_the_run_of_failures) {
  auto group = make_group(3, 1);
  auto& n = *group->nodes()->at(0);
  group->record_failure(n, 0);
  group->record_failure(n, 0);
  upstream_group::record_success(n);
  EXPECT_FALSE(group->record_failure(n, 0));
  EXPECT_FALSE(n.ejected);
}

TEST(ejection, never_leaves_fewer_than_min_available_eligible_nodes) {
  auto group = make_group(2, 1, 1);
  auto& a = *group->nodes()->at(0);
  auto& b = *group->nodes()->at(1);
  EXPECT_TRUE(group->record_failure(a, 0));
  EXPECT_FALSE(group->record_failure(b, 0));  // b is the last eligible node
  EXPECT_FALSE(b.ejected);
  EXPECT_TRUE(b.eligible());
}

TEST(ejection, ends_after_the_ejection_time_and_doubles_on_a_quick_repeat_up_to_the_cap) {
  auto group = make_group(3, 1, 1);
  auto& n = *group->nodes()->at(0);
  ASSERT_TRUE(group->record_failure(n, 0));
  EXPECT_EQ(group->end_ejections(9'999), 0u);
  EXPECT_EQ(group->end_ejections(10'000), 1u);
  EXPECT_FALSE(n.ejected);
  EXPECT_EQ(n.ramp_start_ms, 10'000);  // back in, ramping up under slow start
  // Fails again at once: 20 s this time, then 35 s (the cap, not 40 s).
  ASSERT_TRUE(group->record_failure(n, 10'001));
  EXPECT_EQ(n.ejected_until_ms(), 30'001);
  group->end_ejections(30'001);
  ASSERT_TRUE(group->record_failure(n, 30'002));
  EXPECT_EQ(n.ejected_until_ms(), 65'002);
  group->end_ejections(65'002);
  // After a quiet spell longer than the last ejection, back to the base time.
  ASSERT_TRUE(group->record_failure(n, 200'000));
  EXPECT_EQ(n.ejected_until_ms(), 210'000);
}

TEST(ejection, max_failures_zero_disables_it) {
  auto group = make_group(3, 1, 0);
  auto& n = *group->nodes()->at(0);
  for (int i = 0; i < 100; ++i) group->record_failure(n, 0);
  EXPECT_FALSE(n.ejected);
  EXPECT_EQ(n.failures_total, 100u);
}

TEST(ejection, ends_at_once_when_asked_and_the_node_ramps_up_again) {
  auto group = make_group(3, 1, 1);
  auto& n = *group->nodes()->at(0);
  ASSERT_TRUE(group->record_failure(n, 0));
  group->end_ejection(n, 500);
  EXPECT_FALSE(n.ejected);
  EXPECT_TRUE(n.eligible());
  EXPECT_EQ(n.ramp_start_ms, 500);
  EXPECT_EQ(n.consecutive_failures, 0u);
}
