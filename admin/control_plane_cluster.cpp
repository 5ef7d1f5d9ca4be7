// Cluster mode: several replicas sharing drains, node additions and removals through Redis
// (cluster/cluster_link.hpp). Each replica applies the shared state to its own nodes; an operator's change is
// recorded in Redis first (on the version it was decided on) and applied here only then, so that no replica
// ever diverges by a change made only locally. Health stays each replica's own.

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "admin/control_plane.hpp"
#include "net/spawn_logged.hpp"

namespace drawbridge::admin {

using upstream::admin_state;
using upstream::node;
using upstream::saved_upstream;
using upstream::upstream_group;

namespace {

// How long start-up waits for the shared state before it serves with the state file's (and goes on
// trying in the background).
constexpr auto cluster_load_timeout = std::chrono::seconds(3);
// Conflicts in a row before an operator's change gives up (each is another replica's change landing first).
constexpr int max_conflicts = 5;
// Two heartbeats and a second, within these bounds, a change waits for the other replicas to apply the
// shared state it is decided on, reading their heartbeats this often.
constexpr auto min_catch_up = std::chrono::seconds(3);
constexpr auto max_catch_up = std::chrono::seconds(5);
constexpr auto catch_up_poll = std::chrono::milliseconds(50);
// The refusal's code when they have not (503).
const std::string replicas_behind = "replicas_behind";

bool wanted(admin_state a) { return a == admin_state::ready; }

refusal busy_refusal(const std::string& upstream) {
  return {503, "cluster_busy",
          "upstream " + upstream + " kept changing through other replicas; nothing changed, try again"};
}

}  // namespace

void control_plane::make_cluster_link() {
  std::vector<std::string> names;
  for (const auto& g : runtime_->upstreams) names.push_back(g->name());
  cluster::cluster_link::hooks hooks;
  hooks.connected = [this](const std::map<std::string, cluster::shared_upstream>& states) {
    for (const auto& [name, s] : states) consider_shared(name, s);
  };
  hooks.changed = [this](const std::string& u, const cluster::shared_upstream& s) { consider_shared(u, s); };
  hooks.tunnel_deadline = [this](const std::string& u, const std::string& n, std::chrono::system_clock::time_point at) {
    tunnel_deadline(u, n, at);
  };
  hooks.heartbeat = [this] { return heartbeat_body(); };
  hooks.message = [this](const nlohmann::json& message) { acme_->take_announcement(message); };
  link_ = std::make_unique<cluster::cluster_link>(io_.get_executor(), runtime_->config.cluster, std::move(names),
                                                  std::move(hooks));
  acme_->use_cluster(link_.get(), runtime_->config.cluster.acme_key_file);
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
  // Upstreams Redis holds nothing for (or all of them, Redis being unreachable): the state file's. They
  // are recorded in Redis once the control thread runs (consider_shared at the first periodic read).
  for (const auto& saved : from_file ? from_file->upstreams : std::vector<saved_upstream>{})
    if (shared_version(saved.name) == 0) {
      restore_upstream(saved, "state file");
      file_applied_ = true;
    }
  if (!link_->loaded())
    spdlog::warn("cluster: Redis at {} could not be reached within {} s ({}); serving with {} until it can{}",
                 conf::to_string(link_->config().redis), cluster_load_timeout.count(), link_->last_error(),
                 file_applied_ ? "the state file's admin state" : "the config's nodes, all in rotation",
                 file_applied_ ? "" : " (and /readyz answers 503 until then)");
}

void control_plane::consider_shared(const std::string& upstream, const cluster::shared_upstream& s) {
  const auto& known = shared_[upstream];
  if (s.version == 0) {
    // Nothing in Redis (a first start, or Redis lost its data): this replica's state goes there. One that
    // knows nothing but its config (it started while Redis was down, without a state file) lets those that
    // know more go first: it waits until they have all had their chance to reconnect (the longest backoff
    // and its jitter, and two heartbeats), and takes theirs if it comes.
    if (!started_ || seeding_.count(upstream)) return;
    const auto now = std::chrono::steady_clock::now();
    const auto first = empty_since_.try_emplace(upstream, now).first->second;
    if (knowledge() == "config" &&
        now - first < cluster::max_reconnect_backoff * 5 / 4 + 2 * runtime_->config.cluster.heartbeat)
      return;
    empty_since_.erase(upstream);
    if (known.version > 0)
      spdlog::warn(
          "cluster: Redis holds no state for upstream {} any more (was its data lost?); recording this "
          "replica's",
          upstream);
    net_types::spawn_logged(io_.get_executor(), record_ours(upstream, 0), "cluster: recording " + upstream);
    return;
  }
  empty_since_.erase(upstream);
  if (known.version > 0 && (behind(s, known) || better_than(s, known))) {
    // Redis went back in time (a restored snapshot, a failover to a Redis replica that lagged), or a new
    // history was begun by a replica that knew less than this one, and nothing changed since: what this
    // replica has goes over it.
    if (!started_ || seeding_.count(upstream)) return;
    spdlog::warn(
        "cluster: Redis holds {} of upstream {} than this replica ({}, version {}); recording this "
        "replica's state over it",
        behind(s, known) ? "an older version" : "a state recorded by a replica that knew less", upstream, known.epoch,
        known.version);
    net_types::spawn_logged(io_.get_executor(), record_ours(upstream, s.version), "cluster: recording " + upstream);
    return;
  }
  apply_shared(upstream, s, incomplete_.count(upstream) > 0);
}

void control_plane::apply_shared(const std::string& upstream, const cluster::shared_upstream& s, bool again) {
  auto& known = shared_[upstream];
  if (!s.state) return;
  const bool newer = s.epoch != known.epoch || s.version > known.version;
  if (!newer && !again) return;  // applied already
  const auto group = find_upstream(upstream);
  if (!group) return;
  const std::string by = s.changed_by == link_->replica() ? "this replica" : "replica " + s.changed_by;
  known = s;
  incomplete_.erase(upstream);
  const auto& state = *s.state;
  if (!started_) {
    restore_upstream(state, "Redis");
    return;
  }
  const auto index = index_of(*group);
  if (!index) return;
  const auto& configured = runtime_->config.upstreams[*index].nodes;
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
        incomplete_.insert(upstream);
        continue;
      }
      std::string error;
      auto endpoints = upstream::resolve_node(sn.address, error);  // blocking for a name, as add_node
      if (endpoints.empty()) {
        // Tried again with every read of the shared state (each heartbeat) until it resolves.
        spdlog::error("cluster: node {} of upstream {} (added by {}) is left out here for now: {}", sn.name, upstream,
                      by, error);
        incomplete_.insert(upstream);
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
  if (changed_here) changed();  // the state file keeps the last shared state, for a start-up while Redis is unreachable
  // The others wait for this replica's heartbeat to show the version (peers_budget), changed here or not.
  if (newer) link_->beat_soon();
}

net_types::task<void> control_plane::record_ours(std::string upstream, std::uint64_t expected) {
  if (!seeding_.insert(upstream).second) co_return;
  const auto group = find_upstream(upstream);
  const auto index = group ? index_of(*group) : std::nullopt;
  if (!index) {
    seeding_.erase(upstream);
    co_return;
  }
  // What this replica applied of the shared state (nodes it could not apply included), else its own.
  const auto& known = shared_[upstream];
  auto mine = known.version > 0 && known.state ? *known.state : snapshot_upstream(*index);
  auto context = proposal_context_for(upstream);
  context.seed = true;
  const auto result = co_await link_->propose(upstream, expected, mine, context);
  seeding_.erase(upstream);
  using outcome = cluster::proposal_result::outcome;
  if (result.result == outcome::committed) {
    spdlog::info("cluster: this replica's state of upstream {} is recorded (version {})", upstream, result.version);
    cluster::shared_upstream recorded;
    recorded.version = result.version;
    recorded.epoch = result.epoch;
    recorded.origin = context.origin;
    recorded.based_on = context.based_on;
    recorded.seed = true;
    recorded.state = std::move(mine);
    recorded.changed_by = link_->replica();
    apply_shared(upstream, recorded);
  } else if (result.result == outcome::conflict) {
    consider_shared(upstream, result.current);  // another replica's came first
  }
}

void control_plane::tunnel_deadline(const std::string& upstream, const std::string& node_name,
                                    std::chrono::system_clock::time_point at) {
  const auto group = find_upstream(upstream);
  const auto n = group ? group->find(node_name) : nullptr;
  if (!n) return;
  // Clocks of two hosts: what counts is how far away `at` is by this one's.
  drains_.close_tunnels_at(*n, std::chrono::steady_clock::now() + (at - std::chrono::system_clock::now()));
}

namespace {

// How much a replica knew when it recorded a first state: a shared state it had applied, its state file,
// or only its config.
int rank_of(const std::string& origin) { return origin == "shared" ? 2 : origin == "file" ? 1 : 0; }

}  // namespace

bool control_plane::behind(const cluster::shared_upstream& s, const cluster::shared_upstream& known) {
  return s.epoch == known.epoch && s.version < known.version;
}

bool control_plane::better_than(const cluster::shared_upstream& s, const cluster::shared_upstream& known) const {
  // Only a bare first record (a replica re-recording its state after Redis lost it) is ever written over:
  // an operator's change, even one made on less, stands.
  if (!s.seed || s.epoch == known.epoch) return false;
  const auto mine = rank_of(knowledge());
  const auto theirs = rank_of(s.origin);
  if (mine != theirs) return mine > theirs;
  // Both had applied the shared state: the one that had applied more of the same history knows better.
  const auto colon = s.based_on.rfind(':');
  if (colon == std::string::npos || s.based_on.substr(0, colon) != known.epoch) return false;
  try {
    return std::stoull(s.based_on.substr(colon + 1)) < known.version;
  } catch (const std::exception&) {
    return false;
  }
}

cluster::cluster_link::proposal_context control_plane::proposal_context_for(const std::string& upstream) const {
  cluster::cluster_link::proposal_context context;
  context.origin = knowledge();
  const auto it = shared_.find(upstream);
  if (it != shared_.end() && it->second.version > 0) {
    context.based_on = it->second.epoch + ":" + std::to_string(it->second.version);
    context.floor = it->second.version;
  }
  return context;
}

bool control_plane::state_known() const {
  // Read (or the state file's), and recorded: an empty Redis gives nothing to know until a replica has
  // recorded its state.
  return !link_ || file_applied_ || (link_->loaded() && shared_recorded());
}

bool control_plane::shared_recorded() const {
  return std::any_of(shared_.begin(), shared_.end(), [](const auto& kv) { return kv.second.version > 0; });
}

std::string control_plane::knowledge() const {
  if (shared_recorded()) return "shared";
  return file_applied_ ? "file" : "config";
}

std::optional<std::size_t> control_plane::index_of(const upstream_group& group) const {
  for (std::size_t i = 0; i < runtime_->upstreams.size(); ++i)
    if (runtime_->upstreams[i].get() == &group) return i;
  return std::nullopt;
}

std::optional<refusal> control_plane::peers_budget(const upstream_group& group, const node& n,
                                                   const saved_upstream& next) const {
  // Each other replica's own view, from its heartbeat: the nodes it sends requests to, its health checks
  // and passive ejections included (network paths differ). That view answers only once the replica has
  // applied the shared state this change is decided on: before, a node undrained a moment ago would count
  // although the replica checks it afresh when it applies the undrain (health unknown until its checks
  // pass), and a node drained a moment ago would count although the replica is about to stop using it.
  // shared_change waits a little for a replica that is behind, then refuses (503, replicas_behind).
  const auto basis = shared_.find(group.name());
  for (const auto& peer : link_->peers()) {
    const auto* there = peer.heartbeat.upstream(group.name());
    if (!there) continue;  // not an upstream of that replica's config
    const auto* target_there = peer.heartbeat.node(group.name(), n.name());
    if (!target_there) continue;  // not a node of that replica (nor added there yet): it takes nothing there
    if (basis != shared_.end() && basis->second.version > 0 &&
        (there->applied_epoch != basis->second.epoch || there->applied_version != basis->second.version))
      return refusal{503, replicas_behind,
                     "replica " + peer.replica + " (heartbeat " + std::to_string(peer.age.count()) +
                         " ms old) has applied version " + std::to_string(there->applied_version) + " of upstream " +
                         group.name() + "'s shared state and this one version " +
                         std::to_string(basis->second.version) +
                         ", so how many nodes it has left is unknown; nothing changed, try again (or add "
                         "force=true to do it anyway)"};
    if (!target_there->eligible) continue;  // the node takes nothing there anyway
    std::size_t others = 0;
    for (const auto& [name, view] : there->nodes)
      if (name != n.name() && view.eligible &&
          std::find(next.removed.begin(), next.removed.end(), name) == next.removed.end())
        ++others;
    if (others < group.config().min_available)
      return refusal{409, "min_available",
                     "taking " + n.name() + " out would leave " + std::to_string(others) +
                         " node(s) taking requests through replica " + peer.replica + " in upstream " + group.name() +
                         ", below min_available (" + std::to_string(group.config().min_available) +
                         "); add force=true to do it anyway"};
  }
  return std::nullopt;
}

net_types::task<std::optional<refusal>> control_plane::shared_change(upstream_group& group, shared_edit edit,
                                                                     bool budget) {
  const std::string& name = group.name();  // the caller holds the group (admin_api) until this returns
  // Redis's version when it holds less than this replica knows (it lost its data: 0, or went back in time):
  // the change is then recorded over it, on this replica's state.
  std::optional<std::uint64_t> over;
  int conflicts = 0;
  // How long a change waits for the other replicas to apply the state it is decided on (peers_budget):
  // counted again from each new state.
  const auto catch_up_limit = std::clamp<std::chrono::steady_clock::duration>(
      2 * runtime_->config.cluster.heartbeat + std::chrono::seconds(1), min_catch_up, max_catch_up);
  auto catch_up_until = std::chrono::steady_clock::now() + catch_up_limit;
  // And all in all no longer than this, however often the state changes meanwhile.
  const auto give_up_at = std::chrono::steady_clock::now() + 2 * max_catch_up;
  std::pair<std::string, std::uint64_t> decided_on;
  for (;;) {
    // Again at each turn: a config reload may have replaced the upstream meanwhile.
    const auto index = index_of(group);
    if (!index) co_return refusal{409, "reloaded", "upstream " + name + " changed with a config reload; try again"};
    if (!link_->connected())
      co_return refusal{503, "cluster_unavailable",
                        "the cluster's Redis (" + conf::to_string(link_->config().redis) + ") is unreachable (" +
                            link_->last_error() +
                            "): changes are refused until it is back, so that no replica diverges from the others"};
    // The other replicas' heartbeats as they are now, for the budget (peers_budget): not as the last
    // periodic read left them, up to a heartbeat ago.
    if (budget) {
      // A plain statement: GCC 12 is not trusted with a co_await inside a short-circuit operator.
      const auto peers = co_await link_->replicas();
      if (!peers)
        co_return refusal{503, "cluster_unavailable",
                          "the other replicas' heartbeats could not be read from Redis; nothing changed"};
    }
    const auto known = shared_[name];  // a copy: the map may change while the proposal is out
    if (decided_on != std::pair(known.epoch, known.version)) {
      decided_on = {known.epoch, known.version};
      catch_up_until = std::min(std::chrono::steady_clock::now() + catch_up_limit, give_up_at);
    }
    const auto expected = over ? *over : known.version;
    saved_upstream next = known.version > 0 && known.state ? *known.state : snapshot_upstream(*index);
    bool changes = false;
    const auto refused = edit(next, changes);
    if (refused && refused->code == replicas_behind && std::chrono::steady_clock::now() < catch_up_until &&
        !stopping_) {
      // Another replica has applied another state than this one: it has not applied this one yet (its
      // heartbeat, read again, will say when it has), or this replica is the one behind (Redis, read
      // again, says so).
      net_types::timer poll(io_.get_executor());
      poll.expires_after(catch_up_poll);
      co_await poll.async_wait(net_types::use_tuple);
      const auto held = co_await link_->read(name);
      if (held) consider_shared(name, *held);
    } else if (refused && (refused->status == 503 || over)) {
      co_return refused;
    } else if (refused || (!changes && !over)) {
      // A refusal, or nothing to record: only if what this replica knows is what Redis holds. Another
      // replica's change may be on its way here (the announcement not read yet), and the answer must not
      // be decided on less.
      const auto now_held = co_await link_->read(name);
      if (!now_held)
        co_return refusal{
            503, "cluster_unavailable",
            "the cluster's Redis (" + conf::to_string(link_->config().redis) + ") did not answer; nothing changed"};
      // Compared with what the edit was decided on (`known`, copied before): the announcement of the
      // newer state may have been applied here while the read was out.
      // A refusal stands when Redis holds what it was decided on, or less (it lost its data, or went
      // back in time: this replica's state is recorded over it at the next change).
      if (refused && (now_held->version == 0 || (now_held->epoch == known.epoch && now_held->version <= known.version)))
        co_return refused;
      if (now_held->version == known.version && now_held->epoch == known.epoch) {
        // This replica's nodes must say what the shared state says.
        if (known.version > 0) apply_shared(name, known, /*again=*/true);
        co_return std::nullopt;
      }
      consider_shared(name, *now_held);
      if (++conflicts > max_conflicts) co_return busy_refusal(name);
    } else {
      const auto context = proposal_context_for(name);
      const auto result = co_await link_->propose(name, expected, next, context);
      using outcome = cluster::proposal_result::outcome;
      if (result.result == outcome::committed) {
        cluster::shared_upstream recorded;
        recorded.version = result.version;
        recorded.epoch = result.epoch;
        recorded.origin = expected == 0 ? context.origin : known.origin;
        recorded.based_on = expected == 0 ? context.based_on : known.based_on;
        recorded.state = std::move(next);
        recorded.changed_by = link_->replica();
        apply_shared(name, recorded);
        co_return std::nullopt;
      }
      if (result.result == outcome::unavailable) {
        if (!result.sent)
          co_return refusal{503, "cluster_unavailable",
                            "the change could not be recorded in Redis (" + result.error + "); nothing changed"};
        co_return refusal{503, "cluster_unavailable",
                          "Redis did not confirm the change (" + result.error +
                              "): it may have been recorded, in which case every replica applies it once Redis answers "
                              "again; look at GET /v1/upstreams/" +
                              name + " before trying again"};
      }
      if (++conflicts > max_conflicts) co_return busy_refusal(name);
      const auto& current = result.current;
      const auto& now_known = shared_[name];
      if (now_known.version > 0 &&
          (current.version == 0 || behind(current, now_known) || better_than(current, now_known))) {
        over = current.version;
      } else {
        over.reset();
        apply_shared(name, current);
      }
    }
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
  const auto it = shared_.find(upstream);
  const std::string epoch = it == shared_.end() ? std::string() : it->second.epoch;
  for (const auto& peer : link_->peers()) {
    const auto* u = peer.heartbeat.upstream(upstream);
    if (!u) continue;  // not an upstream of that replica's config
    if (u->applied_epoch != epoch || u->applied_version < version) return false;
    const auto* n = peer.heartbeat.node(upstream, node_name);
    if (!n) continue;  // that replica does not have the node
    // Unreported counts as not settled (another process's text: a field may be missing).
    if (active ? !n->eligible : n->admin == "ready" || n->admin.empty() || n->in_flight.value_or(1) != 0) return false;
  }
  return true;
}

cluster::heartbeat control_plane::heartbeat_body() const {
  cluster::heartbeat h;
  h.pid = static_cast<std::int64_t>(::getpid());
  h.version = DRAWBRIDGE_VERSION;
  const auto now = upstream::steady_now_ms();
  for (const auto& g : runtime_->upstreams) {
    auto& u = h.upstreams[g->name()];
    if (const auto it = shared_.find(g->name()); it != shared_.end()) {
      u.applied_epoch = it->second.epoch;
      u.applied_version = it->second.version;
    }
    for (const auto& n : *g->nodes()) {
      cluster::node_report r;
      r.state = to_string(n->state(now, g->config().slow_start.count()));
      r.admin = to_string(n->admin.load());
      r.health = to_string(n->health.load());
      r.eligible = n->eligible();
      r.in_flight = n->in_flight.load();
      h.in_flight += *r.in_flight;
      u.nodes[n->name()] = std::move(r);
    }
  }
  return h;
}

}  // namespace drawbridge::admin
