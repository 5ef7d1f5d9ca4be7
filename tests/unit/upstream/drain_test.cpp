// The drain state machine (upstream/drain.hpp) and node admission, sans-IO: no sockets, no threads, no
// sleeps; time is an argument.

#include "upstream/drain.hpp"

#include <gtest/gtest.h>

#include "tests/unit/upstream/test_nodes.hpp"

using namespace drawbridge;
using namespace drawbridge::upstream;
using namespace std::chrono_literals;

namespace {

using time_point = drain_machine::time_point;
const time_point t0{};  // the injected clock's start

std::shared_ptr<upstream_group> make_group(int nodes, std::uint32_t min_available) {
  conf::upstream_config config;
  config.min_available = min_available;
  return test_group(config, nodes);
}

struct fixture {
  explicit fixture(int nodes, std::uint32_t min_available) : group(make_group(nodes, min_available)), drains({group}) {}
  node& at(std::size_t i) const { return *group->nodes()->at(i); }
  std::shared_ptr<upstream_group> group;
  drain_machine drains;
};

}  // namespace

TEST(drain, is_refused_when_it_would_leave_fewer_than_min_available_nodes) {
  fixture f(2, 2);
  const auto refused = f.drains.drain(*f.group, f.at(0), /*force=*/false, t0);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->others_taking_requests, 1u);
  EXPECT_EQ(f.at(0).admin, admin_state::ready);
  EXPECT_TRUE(f.at(0).eligible());
}

TEST(drain, forced_goes_below_min_available) {
  fixture f(2, 2);
  auto held = f.at(0).try_admit(0);
  EXPECT_FALSE(f.drains.drain(*f.group, f.at(0), /*force=*/true, t0));
  EXPECT_EQ(f.at(0).admin, admin_state::draining);
  EXPECT_FALSE(f.at(0).eligible());
}

TEST(drain, a_node_that_takes_no_requests_anyway_is_not_counted_against_min_available) {
  fixture f(2, 2);
  f.at(0).record_health(health_state::unhealthy);
  EXPECT_FALSE(f.drains.drain(*f.group, f.at(0), /*force=*/false, t0));
  EXPECT_EQ(f.at(0).admin, admin_state::drained);  // nothing in flight: settled at once
}

TEST(drain, settles_to_drained_when_in_flight_reaches_zero) {
  fixture f(3, 1);
  auto& n = f.at(0);
  auto first = n.try_admit(0);
  auto second = n.try_admit(0);
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(f.drains.drain(*f.group, n, false, t0));
  EXPECT_EQ(n.admin, admin_state::draining);
  EXPECT_FALSE(f.drains.tick(t0 + 20ms));
  first.release();
  EXPECT_FALSE(f.drains.tick(t0 + 40ms));
  EXPECT_EQ(n.admin, admin_state::draining);
  second.release();
  EXPECT_TRUE(f.drains.tick(t0 + 60ms));  // something to persist
  EXPECT_EQ(n.admin, admin_state::drained);
  EXPECT_EQ(n.in_flight, 0);
  EXPECT_FALSE(f.drains.tick(t0 + 80ms));
}

TEST(drain, admits_nothing_once_draining_and_gives_the_count_back) {
  fixture f(3, 1);
  auto& n = f.at(0);
  EXPECT_FALSE(f.drains.drain(*f.group, n, false, t0));
  const auto refused = n.try_admit(0);
  EXPECT_FALSE(refused);
  EXPECT_EQ(refused.result(), admission::not_ready);
  EXPECT_EQ(n.in_flight, 0);
  EXPECT_EQ(n.requests_total, 0u);
}

TEST(drain, a_moved_guard_hands_its_request_over_and_the_moved_from_one_holds_nothing) {
  fixture f(1, 0);
  auto& n = f.at(0);
  auto first = n.try_admit(0);
  ASSERT_TRUE(first);
  EXPECT_EQ(first.result(), admission::admitted);
  auto second = std::move(first);
  EXPECT_TRUE(second);
  EXPECT_FALSE(first);  // NOLINT(bugprone-use-after-move): what a moved-from guard says is the point
  EXPECT_EQ(first.result(), admission::not_ready);
  EXPECT_EQ(n.in_flight, 1);  // counted once, not twice and not zero times
  first.release();            // releasing the empty one gives nothing back
  EXPECT_EQ(n.in_flight, 1);
  second.release();
  EXPECT_EQ(n.in_flight, 0);
}

TEST(drain, admission_stops_at_the_node_limit) {
  fixture f(1, 0);
  auto& n = f.at(0);
  auto a = n.try_admit(2);
  auto b = n.try_admit(2);
  const auto c = n.try_admit(2);
  EXPECT_TRUE(a && b);
  EXPECT_FALSE(c);
  EXPECT_EQ(c.result(), admission::at_capacity);
  EXPECT_EQ(n.in_flight, 2);
  EXPECT_EQ(n.requests_total, 2u);
  b.release();
  EXPECT_TRUE(n.try_admit(2));
}

TEST(drain, at_its_deadline_asks_the_tunnels_to_close_and_again_while_any_remain) {
  fixture f(3, 1);
  auto& n = f.at(0);
  auto tunnel_request = n.try_admit(0);
  n.tunnel_opened();
  EXPECT_FALSE(f.drains.drain(*f.group, n, false, t0));
  f.drains.close_tunnels_at(n, t0 + 5s);
  f.drains.tick(t0 + 4980ms);
  EXPECT_EQ(n.tunnel_close_epoch, 0u);  // before the deadline, tunnels run on
  f.drains.tick(t0 + 5s);
  EXPECT_EQ(n.tunnel_close_epoch, 1u);
  EXPECT_EQ(f.drains.deadline_passed(*f.group, n, t0 + 5s), 1);  // already acted on: not asked twice
  EXPECT_EQ(n.tunnel_close_epoch, 1u);
  f.drains.tick(t0 + 5020ms);  // a tunnel opened at the deadline opened under the raised epoch
  EXPECT_EQ(n.tunnel_close_epoch, 2u);
  n.tunnel_closed();
  tunnel_request.release();
  EXPECT_TRUE(f.drains.tick(t0 + 5040ms));
  EXPECT_EQ(n.admin, admin_state::drained);
  f.drains.tick(t0 + 5060ms);
  EXPECT_EQ(n.tunnel_close_epoch, 2u);
}

TEST(drain, a_caller_whose_wait_ran_out_before_the_tick_acts_on_the_deadline_itself) {
  fixture f(3, 1);
  auto& n = f.at(0);
  auto request = n.try_admit(0);
  n.tunnel_opened();
  n.tunnel_opened();
  EXPECT_FALSE(f.drains.drain(*f.group, n, false, t0));
  f.drains.close_tunnels_at(n, t0 + 1s);
  f.drains.close_tunnels_at(n, t0 + 9s);  // a later deadline does not postpone the earlier one
  EXPECT_EQ(f.drains.deadline_passed(*f.group, n, t0 + 1s), 2);
  EXPECT_EQ(n.tunnel_close_epoch, 1u);
}

TEST(drain, without_tunnels_the_deadline_asks_nothing) {
  fixture f(3, 1);
  auto& n = f.at(0);
  auto request = n.try_admit(0);
  EXPECT_FALSE(f.drains.drain(*f.group, n, false, t0));
  f.drains.close_tunnels_at(n, t0 + 1s);
  f.drains.tick(t0 + 2s);
  EXPECT_EQ(n.tunnel_close_epoch, 0u);
  EXPECT_EQ(n.admin, admin_state::draining);  // requests finish on their own time
}

TEST(drain, undrain_brings_the_node_back_to_ready) {
  fixture f(3, 1);
  auto& n = f.at(0);
  EXPECT_FALSE(f.drains.drain(*f.group, n, false, t0));
  EXPECT_EQ(n.admin, admin_state::drained);
  EXPECT_TRUE(f.drains.undrain(n));
  EXPECT_EQ(n.admin, admin_state::ready);
  EXPECT_TRUE(n.eligible());
  EXPECT_TRUE(n.try_admit(0));
  EXPECT_FALSE(f.drains.undrain(n));  // ready already: nothing changed
}

TEST(drain, undrain_while_draining_cancels_the_deadline) {
  fixture f(3, 1);
  auto& n = f.at(0);
  auto request = n.try_admit(0);
  n.tunnel_opened();
  EXPECT_FALSE(f.drains.drain(*f.group, n, false, t0));
  f.drains.close_tunnels_at(n, t0 + 1s);
  EXPECT_TRUE(f.drains.undrain(n));
  f.drains.tick(t0 + 2s);
  EXPECT_EQ(n.tunnel_close_epoch, 0u);
  EXPECT_EQ(n.admin, admin_state::ready);
}

TEST(drain, a_removed_node_leaves_the_list_once_settled) {
  fixture f(3, 1);
  const auto kept = f.group->nodes()->at(1);
  // Held as the admin API holds it: the list lets go of the node when it leaves.
  const auto removed = f.group->nodes()->at(0);
  auto& n = *removed;
  const auto generation = f.group->generation();
  auto request = n.try_admit(0);
  EXPECT_FALSE(f.drains.remove(*f.group, n, false, t0));
  EXPECT_TRUE(f.drains.removal_pending(n));
  EXPECT_EQ(f.group->nodes()->size(), 3u);
  EXPECT_FALSE(f.drains.tick(t0 + 20ms));
  request.release();
  EXPECT_TRUE(f.drains.tick(t0 + 40ms));
  EXPECT_TRUE(n.removed);
  EXPECT_FALSE(f.drains.removal_pending(n));
  EXPECT_EQ(f.group->nodes()->size(), 2u);
  EXPECT_EQ(f.group->nodes()->at(0), kept);
  EXPECT_GT(f.group->generation(), generation);
}

TEST(drain, removal_is_refused_at_min_available_like_a_drain) {
  fixture f(2, 2);
  EXPECT_TRUE(f.drains.remove(*f.group, f.at(0), false, t0));
  EXPECT_FALSE(f.drains.removal_pending(f.at(0)));
  EXPECT_EQ(f.group->nodes()->size(), 2u);
}

TEST(drain, undrain_cancels_a_pending_removal) {
  fixture f(3, 1);
  auto& n = f.at(0);
  auto request = n.try_admit(0);
  EXPECT_FALSE(f.drains.remove(*f.group, n, false, t0));
  EXPECT_TRUE(f.drains.undrain(n));
  request.release();
  f.drains.tick(t0 + 20ms);
  EXPECT_FALSE(n.removed);
  EXPECT_EQ(f.group->nodes()->size(), 3u);
}

TEST(drain, a_node_a_reload_left_out_drains_in_its_old_upstream_then_leaves_it) {
  fixture f(3, 3);                      // min_available 3: a retirement is forced all the same (the config says so)
  auto replacement = make_group(2, 1);  // what the reload made of the upstream (other node objects)
  const auto left_out = f.group->nodes()->at(1);
  auto held = left_out->try_admit(0);  // a request still on the previous runtime
  f.drains.adopt({replacement});
  f.drains.retire(f.group, left_out, t0, t0 + 5s);
  EXPECT_EQ(left_out->admin, admin_state::draining);
  EXPECT_EQ(f.drains.retiring_count(), 1u);
  EXPECT_FALSE(f.drains.tick(t0 + 1s));  // nothing a state store keeps changed: the old object is out of it
  EXPECT_EQ(f.group->nodes()->size(), 3u);

  held.release();
  f.drains.tick(t0 + 2s);
  EXPECT_EQ(left_out->admin, admin_state::drained);
  EXPECT_TRUE(left_out->removed);
  ASSERT_EQ(f.group->nodes()->size(), 2u);
  EXPECT_EQ(f.group->find(left_out->name()), nullptr);
  EXPECT_EQ(replacement->nodes()->size(), 2u);  // the new upstream object is not touched
  EXPECT_EQ(f.drains.retiring_count(), 0u);     // nor held any longer
}
