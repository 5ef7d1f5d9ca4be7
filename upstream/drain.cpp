#include "upstream/drain.hpp"

#include <spdlog/spdlog.h>

namespace drawbridge::upstream {

std::optional<drain_refused> drain_machine::drain(upstream_group& group, node& n, bool force, time_point now) {
  if (n.admin.load() != admin_state::ready) return std::nullopt;  // draining or drained already
  if (const auto others = group.begin_drain(n, force)) return drain_refused{*others};
  spdlog::info("node {} of upstream {} draining ({} in flight)", n.name(), group.name(), n.in_flight.load());
  tick(now);
  return std::nullopt;
}

std::optional<drain_refused> drain_machine::remove(upstream_group& group, node& n, bool force, time_point now) {
  if (auto refused = drain(group, n, force, now)) return refused;
  tracked_[&n].remove = true;
  tick(now);
  return std::nullopt;
}

bool drain_machine::undrain(node& n) {
  tracked_.erase(&n);
  if (n.admin.load() == admin_state::ready) return false;
  n.undrain();
  return true;
}

bool drain_machine::removal_pending(const node& n) const {
  const auto it = tracked_.find(&n);
  return it != tracked_.end() && it->second.remove;
}

void drain_machine::close_tunnels_at(const node& n, time_point deadline) {
  auto& t = tracked_[&n];
  if (!t.deadline || deadline < *t.deadline) t.deadline = deadline;
}

std::int64_t drain_machine::deadline_passed(const upstream_group& group, node& n, time_point now) {
  const auto it = tracked_.find(&n);
  if (it == tracked_.end()) return 0;
  if (it->second.deadline) act_on_deadline(group, n, it->second, now);
  return it->second.tunnels_asked;
}

bool drain_machine::still_draining(const node& n, const tracked& t) {
  return n.admin.load() == admin_state::draining || (t.remove && !n.removed.load());
}

void drain_machine::act_on_deadline(const upstream_group& group, node& n, tracked& t, time_point now) {
  t.deadline.reset();
  if (!still_draining(n, t)) return;
  t.tunnels_asked = n.ask_tunnels_to_close();
  if (t.tunnels_asked == 0) return;
  // A tunnel being opened at this moment opens under the raised epoch; only a later raise tells it to go.
  t.repeat_until = now + tunnel_close_limit + std::chrono::seconds(1);
  spdlog::info("node {} of upstream {}: drain deadline passed, closing {} WebSocket tunnel(s) with \"going away\"",
               n.name(), group.name(), t.tunnels_asked);
}

void drain_machine::retire(std::shared_ptr<upstream_group> previous, std::shared_ptr<node> n, time_point now,
                           time_point tunnel_deadline) {
  spdlog::info("node {} of upstream {} is no longer configured: draining, then removed", n->name(), previous->name());
  close_tunnels_at(*n, tunnel_deadline);
  remove(*previous, *n, /*force=*/true, now);
  if (!n->removed.load()) retiring_.push_back({std::move(previous), std::move(n)});
}

bool drain_machine::tick(time_point now) {
  bool changed = false;
  for (const auto& group : groups_) changed |= tick(*group, now);
  // Retired nodes are in no upstream the state store keeps: their settling changes nothing to save. Only
  // they are looked at in their old upstream object (the nodes it shares with a current one are ticked
  // there), and each is let go, with its hold on the old object, once removed from it.
  std::erase_if(retiring_, [&](const retiring& r) {
    bool ignored = false;
    if (tick_node(*r.group, *r.n, now, ignored) == node_step::keep && !r.n->removed.load()) return false;
    node_list rest;
    for (const auto& other : *r.group->nodes())
      if (other != r.n) rest.push_back(other);
    r.group->publish(std::move(rest));
    return true;
  });
  return changed;
}

bool drain_machine::tick(upstream_group& group, time_point now) {
  bool changed = false;
  const auto snapshot = group.nodes();
  node_list kept;
  for (const auto& n : *snapshot)
    if (tick_node(group, *n, now, changed) == node_step::keep) kept.push_back(n);
  if (kept.size() != snapshot->size()) {
    group.publish(std::move(kept));
    changed = true;
  }
  return changed;
}

drain_machine::node_step drain_machine::tick_node(const upstream_group& group, node& n, time_point now, bool& changed) {
  const auto it = tracked_.find(&n);
  if (it != tracked_.end()) {
    auto& t = it->second;
    if (t.deadline && *t.deadline <= now) {
      act_on_deadline(group, n, t, now);
    } else if (t.repeat_until && now < *t.repeat_until && n.tunnels.load(std::memory_order_relaxed) > 0) {
      n.ask_tunnels_to_close();
    }
    // A deadline set on a node that was undrained before it passed: nothing left to watch.
    if (!t.remove && !t.deadline && (!t.repeat_until || now >= *t.repeat_until) &&
        n.admin.load() == admin_state::ready) {
      tracked_.erase(it);
      return node_step::keep;
    }
  }
  if (n.settle()) {
    spdlog::info("node {} of upstream {} drained", n.name(), group.name());
    changed = true;
  }
  if (it != tracked_.end() && n.admin.load() == admin_state::drained) {
    const bool remove = it->second.remove;
    tracked_.erase(it);  // settled: nothing left to watch
    if (remove) {
      n.mark_removed();
      spdlog::info("node {} removed from upstream {}", n.name(), group.name());
      return node_step::remove;
    }
  }
  return node_step::keep;
}

}  // namespace drawbridge::upstream
