#pragma once
// The drain state machine of an upstream's nodes:
//
//   ready --drain--> draining --settle (nothing in flight)--> drained --(marked for removal)--> removed
//     ^                 |                                        |
//     +----undrain------+----------------------------------------+
//
// A drain that would leave fewer than min_available nodes taking requests is refused unless forced (the
// decision is upstream_group::begin_drain's, under the upstream's lock). A drain may carry a deadline: once
// it passes with the node still draining, the node's WebSocket tunnels are asked to go away (1001), and asked
// again while any remain for upstream::tunnel_close_limit, so that a node held only by tunnels ends drained.
//
// Sans-IO: time comes in as arguments and nothing here waits. The control thread owns one and drives it
// (admin/control_plane.cpp: the admin API's calls, and tick() on its 20 ms tick). Control thread only.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "upstream/upstream_group.hpp"

namespace drawbridge::upstream {

// A drain refused for min_available: how many other nodes would still take requests.
struct drain_refused {
  std::size_t others_taking_requests = 0;
};

class drain_machine {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  explicit drain_machine(std::vector<std::shared_ptr<upstream_group>> groups) : groups_(std::move(groups)) {}

  // ready → draining (a node with nothing in flight settles at once). A node already draining or drained
  // stays as it is. nullopt unless refused.
  std::optional<drain_refused> drain(upstream_group& group, node& n, bool force, time_point now);
  // As drain(), and once drained the node leaves its upstream's list (marked removed).
  std::optional<drain_refused> remove(upstream_group& group, node& n, bool force, time_point now);
  // Back to ready, and no longer marked for removal. False when it was ready already. The caller resets
  // the node's health first (health_checker::reset): it must not be eligible on its health from before.
  bool undrain(node& n);
  bool removal_pending(const node& n) const;

  // At `deadline`, should `n` still be draining (or waiting for its removal), its tunnels are asked to go
  // away. The earliest deadline set wins.
  void close_tunnels_at(const node& n, time_point deadline);
  // The deadline for `n` has passed (its caller's wait ran out): acts on it now unless tick() did already.
  // Returns how many tunnels were open when they were asked to go.
  std::int64_t deadline_passed(const upstream_group& group, node& n, time_point now);

  // A config reload: `groups` are the upstreams now (nodes they took over keep what is tracked of them).
  void adopt(std::vector<std::shared_ptr<upstream_group>> groups) { groups_ = std::move(groups); }
  // A config reload left `n` out: it drains (forced: the config says so) in the upstream object it was in
  // (`previous`, which requests still on the older runtime use), its tunnels are asked to go at
  // `tunnel_deadline`, and once drained it leaves that object's list.
  void retire(std::shared_ptr<upstream_group> previous, std::shared_ptr<node> n, time_point now,
              time_point tunnel_deadline);
  // Nodes retire() was given that have not left their upstream object yet.
  std::size_t retiring_count() const { return retiring_.size(); }

  // Settles draining nodes with nothing in flight, removes the drained ones marked for removal, acts on
  // deadlines. True when an admin state or a node list changed (something to persist).
  bool tick(time_point now);

 private:
  struct tracked {
    bool remove = false;
    std::optional<time_point> deadline;      // not acted on yet
    std::optional<time_point> repeat_until;  // tunnels asked again while any remain
    std::int64_t tunnels_asked = 0;          // open when the deadline passed
  };
  void act_on_deadline(const upstream_group& group, node& n, tracked& t, time_point now);
  static bool still_draining(const node& n, const tracked& t);

  bool tick(upstream_group& group, time_point now);
  enum class node_step { keep, remove };
  // One node's drain, deadline and removal; `changed` when it settled.
  node_step tick_node(const upstream_group& group, node& n, time_point now, bool& changed);

  std::vector<std::shared_ptr<upstream_group>> groups_;
  // Nodes a reload left out, each with the upstream object it drains in; let go once removed from it.
  struct retiring {
    std::shared_ptr<upstream_group> group;
    std::shared_ptr<node> n;
  };
  std::vector<retiring> retiring_;
  std::map<const node*, tracked> tracked_;
};

}  // namespace drawbridge::upstream
