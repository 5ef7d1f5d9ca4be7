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

void drain_machine::retire(std::shared_ptr<upstream_group> previous, node& n, time_point now,
                           time_point tunnel_deadline) {
  if (std::find(retiring_.begin(), retiring_.end(), previous) == retiring_.end()) retiring_.push_back(previous);
  spdlog::info("node {} of upstream {} is no longer configured: draining, then removed", n.name(), previous->name());
  close_tunnels_at(n, tunnel_deadline);
  remove(*previous, n, /*force=*/true, now);
}

bool drain_machine::tick(time_point now) {
  bool changed = false;
  for (const auto& group : groups_) changed |= tick(*group, now);
  for (const auto& group : retiring_) tick(*group, now);  // nothing a state store keeps
  // A replaced upstream object is let go once nothing it holds is still on its way out.
  std::erase_if(retiring_, [&](const auto& group) {
    const auto nodes = group->nodes();
    return std::none_of(nodes->begin(), nodes->end(), [&](const auto& n) { return tracked_.count(n.get()) != 0; });
  });
  return changed;
}

bool drain_machine::tick(upstream_group& group_ref, time_point now) {
  bool changed = false;
  auto* group = &group_ref;
  {
    const auto snapshot = group->nodes();
    node_list kept;
    bool removed_any = false;
    for (const auto& n : *snapshot) {
      const auto it = tracked_.find(n.get());
      if (it != tracked_.end()) {
        auto& t = it->second;
        if (t.deadline && *t.deadline <= now) {
          act_on_deadline(*group, *n, t, now);
        } else if (t.repeat_until && now < *t.repeat_until && n->tunnels.load(std::memory_order_relaxed) > 0) {
          n->ask_tunnels_to_close();
        }
        // A deadline set on a node that was undrained before it passed: nothing left to watch.
        if (!t.remove && !t.deadline && (!t.repeat_until || now >= *t.repeat_until) &&
            n->admin.load() == admin_state::ready) {
          tracked_.erase(it);
          kept.push_back(n);
          continue;
        }
      }
      if (n->settle()) {
        spdlog::info("node {} of upstream {} drained", n->name(), group->name());
        changed = true;
      }
      if (it != tracked_.end() && n->admin.load() == admin_state::drained) {
        const bool remove = it->second.remove;
        tracked_.erase(it);  // settled: nothing left to watch
        if (remove) {
          n->mark_removed();
          removed_any = true;
          spdlog::info("node {} removed from upstream {}", n->name(), group->name());
          continue;
        }
      }
      kept.push_back(n);
    }
    if (removed_any) {
      group->publish(std::move(kept));
      changed = true;
    }
  }
  return changed;
}

}  // namespace drawbridge::upstream
