#pragma once
// Puts a node into a given state for sans-IO unit tests, through its own methods where they reach the
// state (drain, health, admission) and its private ones where only a lock-holding caller does (ejection).

#include <cstdint>
#include <vector>

#include "upstream/node.hpp"

namespace drawbridge::upstream {

struct node_test_access {
  // As the state store restores it.
  static void set_admin(node& n, admin_state s) { n.restore(s); }
  static void set_health(node& n, health_state h) { n.record_health(h); }
  static void set_ramp_start(node& n, std::int64_t ms) { n.record_health(n.health.load(), ms); }
  // As passive ejection does it under its upstream's lock; ending one keeps the ramp as it is.
  static void set_ejected(node& n, bool ejected) {
    if (ejected)
      n.eject(0);
    else
      n.end_ejection(n.ramp_start_ms.load());
  }
  // `count` requests in flight on `n`, for as long as the returned guards live.
  static std::vector<in_flight_guard> hold(node& n, int count) {
    std::vector<in_flight_guard> held;
    held.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) held.push_back(n.try_admit(0));
    return held;
  }
};

}  // namespace drawbridge::upstream
