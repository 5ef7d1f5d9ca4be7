// Cluster mode: several replicas sharing drains, node additions and removals through Redis
// (cluster/cluster_link.hpp). Each replica applies the shared state to its own nodes; an operator's change is
// recorded in Redis first (on the version it was decided on) and applied here only then, so that no replica
// ever diverges by a change made only locally. Health stays each replica's own.

#include <spdlog/spdlog.h>

#include <unistd.h>

#include "admin/control_plane.hpp"
#include "net/spawn_logged.hpp"

namespace drawbridge::admin {

using upstream::admin_state;
using upstream::node;
using upstream::saved_upstream;
using upstream::upstream_group;
using json = nlohmann::json;

namespace {

// How long start-up waits for the shared state before it serves with the state file's (and goes on
// trying in the background).
constexpr auto cluster_load_timeout = std::chrono::seconds(3);
// Conflicts in a row before an operator's change gives up (each is another replica's change landing first).
constexpr int max_conflicts = 8;

bool wanted(admin_state a) { return a == admin_state::ready; }

}  // namespace

void control_plane::make_cluster_link() {
  std::vector<std::string> names;
  for (const auto& g : runtime_->upstreams) names.push_back(g->name());
  cluster::cluster_link::hooks hooks;
  hooks.connected = [this](const std::map<std::string, cluster::shared_upstream>& states) {
    on_cluster_connected(states);
  };
  hooks.disconnected = [](const std::string&) {};
  hooks.changed = [this](const std::string& u, cluster::shared_upstream s) { on_shared_change(u, std::move(s)); };
  hooks.heartbeat = [this] { return heartbeat_body(); };
  link_ = std::make_unique<cluster::cluster_link>(io_.get_executor(), runtime_->config.cluster, std::move(names),
                                                  std::move(hooks));
}

void control_plane::load_shared_state(std::optional<upstream::saved_state> from_file) {
  // The link runs on the control io_context, which no thread runs yet: run it here until the state is in.
  link_->start();
  const auto deadline = std::chrono::steady_clock::now() + cluster_load_timeout;
  while (!link_->loaded()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    io_.run_one_for(deadline - now);
  }
  if (io_.stopped()) io_.restart();
  // Upstreams Redis holds nothing for (or all of them, Redis being unreachable): the state file's.
  for (const auto& saved : from_file ? from_file->upstreams : std::vector<saved_upstream>{})
    if (!shared_.count(saved.name) || shared_[saved.name].version == 0) restore_upstream(saved, "state file");
  if (!link_->loaded())
    spdlog::warn(
        "cluster: Redis at {} did not answer within {} s ({}); serving with the state file's admin state "
        "until it does",
        conf::to_string(link_->config().redis), cluster_load_timeout.count(), link_->last_error());
}

void control_plane::on_cluster_connected(const std::map<std::string, cluster::shared_upstream>& states) {
  for (const auto& [name, s] : states) {
    if (s.version < shared_version(name)) {
      spdlog::warn(
          "cluster: Redis holds version {} of upstream {}, older than the {} applied here (was its data "
          "lost?); {}",
          s.version, name, shared_version(name),
          s.version == 0 ? "this replica's state is recorded again" : "its state is applied");
      shared_.erase(name);
    }
    if (s.version == 0) {
      if (started_) net_types::spawn_logged(io_.get_executor(), seed(name), "cluster: seeding " + name);
      continue;
    }
    apply_shared(name, s);
  }
  // Before start-up the state file still has its say for the upstreams left; load_shared_state seeds them
  // once applied, at the first periodic read.
}

void control_plane::on_shared_change(const std::string& upstream, cluster::shared_upstream s) {
  if (s.version == 0) {
    if (started_ && !seeding_.count(upstream))
      net_types::spawn_logged(io_.get_executor(), seed(upstream), "cluster: seeding " + upstream);
    return;
  }
  apply_shared(upstream, std::move(s));
}

void control_plane::apply_shared(const std::string& upstream, cluster::shared_upstream s) {
  auto& known = shared_[upstream];
  if (!s.state || s.version <= known.version) return;  // applied already (or nothing to apply)
  const auto group = find_upstream(upstream);
  if (!group) return;
  const std::string by = s.changed_by == link_->replica() ? "this replica" : "replica " + s.changed_by;
  known = s;
  const auto& state = *s.state;
  if (!started_) {
    restore_upstream(state, "Redis");
    return;
  }
  std::size_t index = 0;
  while (runtime_->upstreams[index] != group) ++index;
  const auto& configured = runtime_->config.upstreams[index].nodes;
  const auto now = std::chrono::steady_clock::now();
  bool changed_here = false;

  auto nodes = *group->nodes();
  bool list_changed = false;
  for (const auto& sn : state.nodes) {
    const auto n = group->find(sn.name);
    if (!n) {
      if (!sn.added) continue;  // a configured node this replica's config does not have
      if (nodes.size() >= conf::max_nodes_per_upstream) {
        spdlog::error("cluster: node {} of upstream {} (added by {}) is left out: an upstream holds at most {} nodes",
                      sn.name, upstream, by, conf::max_nodes_per_upstream);
        continue;
      }
      std::string error;
      auto endpoints = upstream::resolve_node(sn.address, error);  // blocking for a name, as add_node
      if (endpoints.empty()) {
        spdlog::error("cluster: node {} of upstream {} (added by {}) is left out here: {}", sn.name, upstream, by,
                      error);
        continue;
      }
      auto created = std::make_shared<node>(sn.name, sn.address, sn.weight, std::move(endpoints));
      if (!wanted(sn.admin)) created->restore(admin_state::drained);  // nobody sees it yet
      checker_.watch(group, created);
      nodes.push_back(created);
      list_changed = true;
      changed_here = true;
      spdlog::info("cluster: node {} ({}) added to upstream {} by {}", sn.name, created->address(), upstream, by);
      continue;
    }
    if (sn.added && n->weight() != sn.weight) n->set_weight(sn.weight);
    if (wanted(sn.admin) && (n->admin.load() != admin_state::ready || drains_.removal_pending(*n))) {
      checker_.reset(*group, *n);  // health first, as undrain()
      drains_.undrain(*n);
      changed_here = true;
      spdlog::info("cluster: node {} of upstream {} undrained by {}: back in rotation once its health checks pass",
                   sn.name, upstream, by);
    } else if (!wanted(sn.admin) && n->admin.load() == admin_state::ready) {
      // The budget was decided where the change was made, on the shared state.
      drains_.drain(*group, *n, /*force=*/true, now);
      changed_here = true;
      spdlog::info("cluster: node {} of upstream {} drained by {}", sn.name, upstream, by);
    }
  }
  if (list_changed) group->publish(std::move(nodes));
  for (const auto& n : *group->nodes()) {
    if (std::any_of(state.nodes.begin(), state.nodes.end(), [&](const auto& sn) { return sn.name == n->name(); }))
      continue;
    const bool is_configured =
        std::any_of(configured.begin(), configured.end(), [&](const auto& c) { return c.name == n->name(); });
    // A configured node the shared state does not mention stays (another replica's config lacks it); an
    // added one it does not mention was removed.
    const bool removed =
        !is_configured || std::find(state.removed.begin(), state.removed.end(), n->name()) != state.removed.end();
    if (!removed || drains_.removal_pending(*n) || n->removed.load()) continue;
    drains_.remove(*group, *n, /*force=*/true, now);
    changed_here = true;
    spdlog::info("cluster: node {} of upstream {} is being removed by {}", n->name(), upstream, by);
  }
  if (changed_here) {
    changed();  // the state file keeps the last shared state, for a start-up while Redis is unreachable
    link_->beat_soon();
  }
}

net_types::task<void> control_plane::seed(std::string upstream) {
  const auto group = find_upstream(upstream);
  if (!group || !seeding_.insert(upstream).second) co_return;
  std::size_t index = 0;
  while (runtime_->upstreams[index] != group) ++index;
  auto mine = snapshot_upstream(index);
  const auto result = co_await link_->propose(upstream, 0, mine);
  seeding_.erase(upstream);
  if (result.result == cluster::proposal_result::outcome::committed) {
    spdlog::info("cluster: Redis held no state for upstream {}; this replica's is recorded (version {})", upstream,
                 result.version);
    shared_[upstream] = cluster::shared_upstream{result.version, std::move(mine), link_->replica()};
  } else if (result.result == cluster::proposal_result::outcome::conflict) {
    apply_shared(upstream, result.current);  // another replica's came first
  }
}

net_types::task<std::optional<refusal>> control_plane::shared_change(upstream_group& group, shared_edit edit) {
  const std::string name = group.name();
  std::size_t index = 0;
  while (index < runtime_->upstreams.size() && runtime_->upstreams[index].get() != &group) ++index;
  if (index == runtime_->upstreams.size())
    co_return refusal{409, "reloaded", "upstream " + name + " changed with a config reload; try again"};
  for (int conflicts = 0;; ++conflicts) {
    if (!link_->connected())
      co_return refusal{503, "cluster_unavailable",
                        "the cluster's Redis (" + conf::to_string(link_->config().redis) + ") is unreachable (" +
                            link_->last_error() +
                            "): changes are refused until it is back, so that no replica diverges from the others"};
    const auto& known = shared_[name];
    const auto expected = known.version;
    saved_upstream next = expected > 0 && known.state ? *known.state : snapshot_upstream(index);
    bool changes = false;
    if (auto refused = edit(next, changes)) co_return refused;
    if (!changes) co_return std::nullopt;
    const auto result = co_await link_->propose(name, expected, next);
    using outcome = cluster::proposal_result::outcome;
    if (result.result == outcome::committed) {
      apply_shared(name, cluster::shared_upstream{result.version, std::move(next), link_->replica()});
      co_return std::nullopt;
    }
    if (result.result == outcome::unavailable)
      co_return refusal{503, "cluster_unavailable",
                        "the change could not be recorded in Redis (" + result.error + "); nothing changed"};
    if (conflicts >= max_conflicts)
      co_return refusal{503, "cluster_busy",
                        "upstream " + name + " kept changing through other replicas; nothing changed, try again"};
    if (result.current.version < expected) shared_.erase(name);  // Redis lost its data: decide on ours again
    apply_shared(name, result.current);
  }
}

std::uint64_t control_plane::shared_version(const std::string& upstream) const {
  const auto it = shared_.find(upstream);
  return it == shared_.end() ? 0 : it->second.version;
}

bool control_plane::peers_settled(const std::string& upstream, const std::string& node_name, std::uint64_t version,
                                  bool active, std::chrono::steady_clock::time_point since) const {
  if (!link_) return true;
  if (!link_->connected() || link_->peers_read_at() < since) return false;
  for (const auto& peer : link_->peers()) {
    const auto& hb = peer.heartbeat;
    const auto applied = hb.find("applied");
    if (applied == hb.end() || !applied->is_object() || applied->value(upstream, std::uint64_t{0}) < version)
      return false;
    const auto ups = hb.find("upstreams");
    if (ups == hb.end() || !ups->is_object()) return false;
    const auto u = ups->find(upstream);
    if (u == ups->end() || !u->is_object()) continue;  // not an upstream of that replica's config
    const auto n = u->find(node_name);
    if (n == u->end() || !n->is_object()) continue;  // that replica does not have the node
    if (active) {
      if (!n->value("eligible", false)) return false;
    } else if (n->value("admin", std::string("ready")) == "ready" || n->value("in_flight", std::int64_t{1}) != 0) {
      return false;
    }
  }
  return true;
}

json control_plane::heartbeat_body() const {
  json upstreams = json::object();
  json applied = json::object();
  std::int64_t total = 0;
  const auto now = upstream::steady_now_ms();
  for (const auto& g : runtime_->upstreams) {
    applied[g->name()] = shared_version(g->name());
    json nodes = json::object();
    for (const auto& n : *g->nodes()) {
      const auto in_flight = n->in_flight.load();
      total += in_flight;
      nodes[n->name()] = {{"state", to_string(n->state(now, g->config().slow_start.count()))},
                          {"admin", to_string(n->admin.load())},
                          {"health", to_string(n->health.load())},
                          {"eligible", n->eligible()},
                          {"in_flight", in_flight}};
    }
    upstreams[g->name()] = std::move(nodes);
  }
  return {{"pid", static_cast<long>(::getpid())},
          {"version", DRAWBRIDGE_VERSION},
          {"in_flight", total},
          {"applied", std::move(applied)},
          {"upstreams", std::move(upstreams)}};
}

}  // namespace drawbridge::admin
