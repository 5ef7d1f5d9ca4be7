#include "admin/control_plane.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include "admin/admin_api.hpp"
#include "net/spawn_logged.hpp"
#include "upstream/state_store.hpp"

namespace drawbridge::admin {

namespace net = boost::asio;
using upstream::admin_state;
using upstream::node;
using upstream::upstream_group;

namespace {
// How often the control thread ends ejections and finishes drains. Short, because a drain `wait` and a
// rollout wait on it.
constexpr auto tick_interval = std::chrono::milliseconds(20);
// Between two attempts at writing a state file that could not be written.
constexpr auto save_retry_interval = std::chrono::seconds(1);

}  // namespace

control_plane::control_plane(std::shared_ptr<const proxy::runtime> rt)
    : runtime_(std::move(rt)), checker_(io_, runtime_->upstreams), tick_timer_(io_.get_executor()) {}

control_plane::~control_plane() { stop(); }

std::shared_ptr<upstream_group> control_plane::find_upstream(const std::string& name) const {
  for (const auto& g : runtime_->upstreams)
    if (g->name() == name) return g;
  return nullptr;
}

std::vector<std::string> control_plane::restore() {
  std::vector<std::string> errors;
  const auto& config = runtime_->config;
  if (config.admin.enabled && !config.admin.token_file.empty()) {
    try {
      tokens_ = token_set::load(config.admin.token_file);
    } catch (const std::exception& e) {
      errors.push_back(e.what());
    }
  }
  if (config.state_file.empty()) return errors;
  std::string error;
  const auto state = upstream::load_state(config.state_file, error);
  if (!error.empty()) errors.push_back("state_file: " + error);
  if (!state) return errors;

  for (const auto& saved : state->upstreams) {
    const auto group = find_upstream(saved.name);
    if (!group) {
      spdlog::warn("state file: upstream {} is no longer configured; its saved state is ignored", saved.name);
      continue;
    }
    upstream::node_list nodes;
    for (const auto& n : *group->nodes())
      if (std::find(saved.removed.begin(), saved.removed.end(), n->name()) == saved.removed.end()) nodes.push_back(n);
    for (const auto& sn : saved.nodes) {
      auto it = std::find_if(nodes.begin(), nodes.end(), [&](const auto& n) { return n->name() == sn.name; });
      if (it == nodes.end() && sn.added) {
        if (nodes.size() >= conf::max_nodes_per_upstream) {
          spdlog::error("state file: node {} of upstream {} is left out: an upstream holds at most {} nodes", sn.name,
                        saved.name, conf::max_nodes_per_upstream);
          continue;
        }
        // A node that no longer resolves must not keep the proxy from starting: it is left out, loudly.
        std::string resolve_error;
        auto endpoints = upstream::resolve_node(sn.address, resolve_error);
        if (endpoints.empty()) {
          spdlog::error("state file: node {} of upstream {} is left out: {}", sn.name, saved.name, resolve_error);
          continue;
        }
        auto created = std::make_shared<node>(sn.name, sn.address, sn.weight, std::move(endpoints));
        if (group->config().health_check.enabled) created->health.store(upstream::health_state::unknown);
        nodes.push_back(created);
        it = std::prev(nodes.end());
      }
      if (it == nodes.end()) continue;
      // A drain that was under way when the process stopped has nothing left in flight now.
      const auto admin = sn.admin == admin_state::draining ? admin_state::drained : sn.admin;
      (*it)->admin.store(admin);
      if (admin != admin_state::ready)
        spdlog::info("state file: node {} of upstream {} stays {}", sn.name, saved.name, to_string(admin));
    }
    group->publish(std::move(nodes));
  }
  return errors;
}

void control_plane::start() {
  const auto& config = runtime_->config;
  if (config.admin.enabled) {
    auto api = std::make_shared<admin_api>(*this);
    server_ = std::make_unique<http_server>(
        io_, [api](const request_head& head, const std::string& client) { return api->admit(head, client); },
        [api](const request& req, const std::string& client, const std::string& caller) {
          return api->handle(req, client, caller);
        });
    const auto& address = config.admin.address;
    try {
      const auto host = address.host == "localhost" ? std::string("127.0.0.1") : address.host;
      server_->listen({net::ip::make_address(host), address.port});
    } catch (const std::exception& e) {
      throw std::runtime_error("admin.address: cannot listen on " + conf::to_string(address) + ": " + e.what());
    }
    admin_endpoint_ = server_->local_endpoint();
    server_->start();
    spdlog::info("admin API on {}:{}{}", admin_endpoint_->address().to_string(), admin_endpoint_->port(),
                 tokens_.empty() ? "" : " (token required)");
  }
  checker_.start();
  spawn_tick_loop();
  thread_ = std::thread([this] { io_.run(); });
}

void control_plane::stop() {
  if (!thread_.joinable()) return;
  net::post(io_, [this] {
    stopping_ = true;
    if (state_dirty_) save_state_file();  // a last try
    checker_.stop();
    tick_timer_.cancel();
    if (server_) server_->stop();
  });
  thread_.join();
}

bool control_plane::ready() const {
  for (const auto& g : runtime_->upstreams)
    if (g->eligible_count(nullptr) == 0) return false;
  return true;
}

std::optional<refusal> control_plane::drain(upstream_group& group, node& n, bool force) {
  if (auto refused = begin_drain(group, n, force)) return refused;
  return saved_or_refused("node " + n.name() + " of upstream " + group.name() + " is out of rotation");
}

std::optional<refusal> control_plane::begin_drain(upstream_group& group, node& n, bool force) {
  const auto current = n.admin.load();
  if (current != admin_state::ready) return std::nullopt;  // already draining or drained
  if (const auto others = group.begin_drain(n, force))
    return refusal{409, "min_available",
                   "draining " + n.name() + " would leave " + std::to_string(*others) +
                       " node(s) taking requests in upstream " + group.name() + ", below min_available (" +
                       std::to_string(group.config().min_available) + "); add force=true to drain anyway"};
  spdlog::info("node {} of upstream {} draining ({} in flight)", n.name(), group.name(), n.in_flight.load());
  state_dirty_ = true;
  finish_drains();
  return std::nullopt;
}

std::int64_t control_plane::close_tunnels(upstream_group& group, node& n) {
  const auto open = n.tunnels.load(std::memory_order_relaxed);
  if (open == 0) return 0;
  n.tunnel_close_epoch.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("node {} of upstream {}: drain deadline passed, closing {} WebSocket tunnel(s) with \"going away\"",
               n.name(), group.name(), open);
  return open;
}

std::optional<refusal> control_plane::undrain(upstream_group& group, node& n) {
  const std::string change = "node " + n.name() + " of upstream " + group.name() + " is back in rotation";
  // A node that is already wanted keeps its health: resetting it would take a serving node out.
  if (n.admin.load() == admin_state::ready) return saved_or_refused(change);
  pending_removal_.erase(&n);
  // Health first: for a moment the node would otherwise be wanted with its health from before the upgrade.
  checker_.reset(group, n);
  n.admin.store(admin_state::ready, std::memory_order_seq_cst);
  spdlog::info("node {} of upstream {} undrained: back in rotation once its health checks pass", n.name(),
               group.name());
  state_dirty_ = true;
  return saved_or_refused(change);
}

std::variant<std::shared_ptr<node>, refusal> control_plane::add_node(const std::shared_ptr<upstream_group>& group,
                                                                     const std::string& name,
                                                                     const std::string& address, std::uint32_t weight) {
  if (!upstream::valid_added_node_name(name))
    return refusal{400, "bad_request", "name must be 1 to 64 letters, digits, '-', '_' or '.'"};
  const auto hp = conf::parse_host_port(address);
  if (!hp || hp->port == 0) return refusal{400, "bad_request", "address must be host:port, got \"" + address + "\""};
  if (weight < 1 || weight > 1000) return refusal{400, "bad_request", "weight must be from 1 to 1000"};
  if (group->find(name)) return refusal{409, "exists", "upstream " + group->name() + " already has a node " + name};
  auto nodes = *group->nodes();
  if (nodes.size() >= conf::max_nodes_per_upstream) {
    std::string message = "an upstream holds at most ";
    message += std::to_string(conf::max_nodes_per_upstream);
    message += " nodes";
    return refusal{409, "too_many_nodes", message};
  }
  std::string error;
  auto endpoints = upstream::resolve_node(*hp, error);  // blocking, but only for a name; IPs resolve at once
  if (endpoints.empty()) return refusal{400, "bad_request", error};
  auto created = std::make_shared<node>(name, *hp, weight, std::move(endpoints));
  checker_.watch(group, created);  // health unknown (warming) until its checks pass
  nodes.push_back(created);
  group->publish(std::move(nodes));
  spdlog::info("node {} ({}) added to upstream {}", name, created->address(), group->name());
  state_dirty_ = true;
  if (auto refused = saved_or_refused("node " + name + " was added to upstream " + group->name())) return *refused;
  return created;
}

std::optional<refusal> control_plane::remove_node(upstream_group& group, const std::shared_ptr<node>& n, bool force) {
  if (auto refused = begin_drain(group, *n, force)) return refused;
  pending_removal_.insert(n.get());
  state_dirty_ = true;
  finish_drains();
  return saved_or_refused("node " + n->name() + " of upstream " + group.name() + " is being removed");
}

// Draining nodes with nothing left in flight become drained; those marked for removal leave the list.
void control_plane::finish_drains() {
  bool changed = false;
  for (const auto& group : runtime_->upstreams) {
    const auto snapshot = group->nodes();
    upstream::node_list kept;
    bool removed_any = false;
    for (const auto& n : *snapshot) {
      if (n->admin.load() == admin_state::draining && n->in_flight.load(std::memory_order_seq_cst) == 0) {
        n->admin.store(admin_state::drained);
        spdlog::info("node {} of upstream {} drained", n->name(), group->name());
        changed = true;
      }
      if (n->admin.load() == admin_state::drained && pending_removal_.erase(n.get())) {
        n->removed.store(true);
        removed_any = true;
        spdlog::info("node {} removed from upstream {}", n->name(), group->name());
        continue;
      }
      kept.push_back(n);
    }
    if (removed_any) {
      group->publish(std::move(kept));
      changed = true;
    }
  }
  if (changed) state_dirty_ = true;
}

void control_plane::spawn_tick_loop() {
  net_types::spawn_logged(io_.get_executor(), tick_loop(), "control thread: tick loop", [this] {
    if (!stopping_) spawn_tick_loop();  // the next tick is tick_interval away: no tight loop
  });
}

net_types::task<void> control_plane::tick_loop() {
  while (!stopping_) {
    tick_timer_.expires_after(tick_interval);
    auto [ec] = co_await tick_timer_.async_wait(net_types::use_tuple);
    if (ec || stopping_) co_return;
    const auto now = upstream::steady_now_ms();
    for (const auto& group : runtime_->upstreams) group->end_ejections(now);
    finish_drains();
    if (state_dirty_ && std::chrono::steady_clock::now() >= next_save_attempt_) save_state_file();
  }
}

std::optional<refusal> control_plane::saved_or_refused(const std::string& change) {
  if (state_dirty_) save_state_file();
  if (!state_dirty_) return std::nullopt;
  return refusal{500, "persist_failed",
                 change + ", but the state file could not be written (" + save_error_ +
                     "): a restart now would forget it. The change stays in effect; the save is retried every " +
                     "second."};
}

bool control_plane::save_state_file() {
  const auto& path = runtime_->config.state_file;
  if (path.empty()) {
    state_dirty_ = false;
    return true;
  }
  upstream::saved_state state;
  for (std::size_t u = 0; u < runtime_->upstreams.size(); ++u) {
    const auto& group = *runtime_->upstreams[u];
    const auto& configured = runtime_->config.upstreams[u].nodes;
    upstream::saved_upstream su;
    su.name = group.name();
    // A node waiting to be removed counts as removed: after a restart nothing is in flight on it.
    upstream::node_list nodes;
    for (const auto& n : *group.nodes())
      if (!pending_removal_.count(n.get())) nodes.push_back(n);
    // The configured node of the same name and address, if any. Otherwise the node was added through the
    // API (and a configured node of that name, re-added with another address, counts as removed).
    auto configured_as = [&](const node& n) {
      return std::any_of(configured.begin(), configured.end(), [&](const auto& c) {
        return c.name == n.name() && conf::to_string(c.address) == n.address();
      });
    };
    for (const auto& n : nodes)
      su.nodes.push_back(
          {n->name(), *conf::parse_host_port(n->address()), n->weight(), n->admin.load(), !configured_as(*n)});
    for (const auto& c : configured)
      if (std::none_of(nodes.begin(), nodes.end(),
                       [&](const auto& n) { return configured_as(*n) && n->name() == c.name; }))
        su.removed.push_back(c.name);
    state.upstreams.push_back(std::move(su));
  }
  std::string error;
  if (!upstream::save_state(path, state, error)) {
    // Logged once per distinct reason, not every second.
    if (error != save_error_)
      spdlog::error("cannot save the admin state: {} (the changes hold in memory; retried every second)", error);
    save_error_ = error;
    next_save_attempt_ = std::chrono::steady_clock::now() + save_retry_interval;
    return false;
  }
  if (!save_error_.empty()) spdlog::info("admin state saved to {} again", path);
  save_error_.clear();
  state_dirty_ = false;
  return true;
}

}  // namespace drawbridge::admin
