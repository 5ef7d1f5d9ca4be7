#include "admin/control_plane.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include "acme/sealed.hpp"
#include "admin/admin_api.hpp"
#include "net/spawn_logged.hpp"
#include "upstream/file_state_store.hpp"

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

// The 409 of a drain refused for min_available.
refusal min_available_refusal(const upstream_group& group, const node& n, const upstream::drain_refused& refused) {
  return refusal{409, "min_available",
                 "draining " + n.name() + " would leave " + std::to_string(refused.others_taking_requests) +
                     " node(s) taking requests in upstream " + group.name() + ", below min_available (" +
                     std::to_string(group.config().min_available) + "); add force=true to drain anyway"};
}

}  // namespace

control_plane::control_plane(std::shared_ptr<const proxy::runtime> rt)
    : runtime_(std::move(rt)),
      checker_(io_, runtime_->upstreams),
      drains_(runtime_->upstreams),
      tick_timer_(io_.get_executor()) {
  acme_ = std::make_unique<acme_manager>(
      io_, [this]() -> const acme_manager::listener_list& { return runtime_->listeners; });
  if (!runtime_->config.state_file.empty())
    store_ = std::make_unique<upstream::file_state_store>(runtime_->config.state_file, io_.get_executor());
  if (runtime_->config.cluster.enabled) make_cluster_link();
}

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
  std::optional<upstream::saved_state> state;
  if (store_) {
    std::string error;
    state = store_->load(error);
    if (!error.empty()) errors.push_back("state_file: " + error);
  }
  if (link_ && !config.cluster.acme_key_file.empty()) {
    std::string error;
    if (!acme::read_sealing_key(config.cluster.acme_key_file, error))
      errors.push_back("cluster.acme_key_file: " + error);
  }
  if (link_) {
    auto problems = link_->prepare();
    errors.insert(errors.end(), problems.begin(), problems.end());
    // The shared state replaces the file's (which then only stands in while Redis is unreachable).
    if (problems.empty()) load_shared_state(std::move(state));
    return errors;
  }
  if (!state) return errors;
  for (const auto& saved : state->upstreams) restore_upstream(saved, "state file");
  return errors;
}

void control_plane::restore_upstream(const upstream::saved_upstream& saved, const char* source) {
  const auto group = find_upstream(saved.name);
  if (!group) {
    spdlog::warn("{}: upstream {} is no longer configured; its saved state is ignored", source, saved.name);
    return;
  }
  upstream::node_list nodes;
  for (const auto& n : *group->nodes())
    if (std::find(saved.removed.begin(), saved.removed.end(), n->name()) == saved.removed.end()) nodes.push_back(n);
  for (const auto& sn : saved.nodes) {
    auto it = std::find_if(nodes.begin(), nodes.end(), [&](const auto& n) { return n->name() == sn.name; });
    if (it == nodes.end() && sn.added) {
      if (nodes.size() >= conf::max_nodes_per_upstream) {
        spdlog::error("{}: node {} of upstream {} is left out: an upstream holds at most {} nodes", source, sn.name,
                      saved.name, conf::max_nodes_per_upstream);
        continue;
      }
      // A node that no longer resolves must not keep the proxy from starting: it is left out, loudly.
      std::string resolve_error;
      auto endpoints = upstream::resolve_node(sn.address, resolve_error);
      if (endpoints.empty()) {
        spdlog::error("{}: node {} of upstream {} is left out: {}", source, sn.name, saved.name, resolve_error);
        continue;
      }
      auto created = std::make_shared<node>(sn.name, sn.address, sn.weight, std::move(endpoints));
      if (group->config().health_check.enabled) created->record_health(upstream::health_state::unknown);
      nodes.push_back(created);
      it = std::prev(nodes.end());
    }
    if (it == nodes.end()) continue;
    // A drain that was under way when the process stopped has nothing left in flight now.
    const auto admin = sn.admin == admin_state::draining ? admin_state::drained : sn.admin;
    (*it)->restore(admin);
    if (admin != admin_state::ready)
      spdlog::info("{}: node {} of upstream {} stays {}", source, sn.name, saved.name, to_string(admin));
  }
  group->publish(std::move(nodes));
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
      const net::ip::tcp::endpoint where(net::ip::make_address(host), address.port);
      // The old process's socket, when the config still has the admin API where it was.
      if (inherited_admin_ && inherited_admin_address_ == conf::to_string(address))
        server_->adopt(std::move(inherited_admin_), where.protocol());
      else
        server_->listen(where);
    } catch (const std::exception& e) {
      throw std::runtime_error("admin.address: cannot listen on " + conf::to_string(address) + ": " + e.what());
    }
    admin_endpoint_ = server_->local_endpoint();
    server_->start();
    spdlog::info("admin API on {}:{}{}", admin_endpoint_->address().to_string(), admin_endpoint_->port(),
                 tokens_.empty() ? "" : " (token required)");
  }
  inherited_admin_.reset();  // not adopted: the config moved or dropped the admin API
  checker_.start();
  acme_->adopt();
  started_ = true;
  if (link_ && !link_->started()) link_->start();
  spawn_tick_loop();
  thread_ = std::thread([this] { io_.run(); });
}

void control_plane::stop() {
  if (!thread_.joinable()) return;
  net::post(io_, [this] {
    stopping_ = true;
    if (unsaved()) start_save();  // a last try: the store's work keeps the io_context running until it ends
    checker_.stop();
    acme_->stop();
    tick_timer_.cancel();
    if (server_) server_->stop();
    if (link_) link_->stop();
  });
  thread_.join();
}

bool control_plane::ready() const {
  for (const auto& g : runtime_->upstreams)
    if (g->eligible_count(nullptr) == 0) return false;
  return true;
}

namespace {

// The node's entry in a shared state, made from this replica's node when the state does not have it yet
// (written by a replica whose config lacks it).
// Null when the shared state says the node was removed (another replica's removal this one has not
// finished applying).
upstream::saved_node* shared_entry(upstream::saved_upstream& s, const upstream_group& group, const node& n) {
  for (auto& sn : s.nodes)
    if (sn.name == n.name()) return &sn;
  const auto& configured = group.config().nodes;
  const bool added =
      std::none_of(configured.begin(), configured.end(), [&](const auto& c) { return c.name == n.name(); });
  if (added || std::find(s.removed.begin(), s.removed.end(), n.name()) != s.removed.end()) return nullptr;
  s.nodes.push_back({n.name(), *conf::parse_host_port(n.address()), n.weight(), n.admin.load(), false});
  return &s.nodes.back();
}

}  // namespace

std::optional<refusal> control_plane::shared_budget(const upstream_group& group, const node& n,
                                                    const upstream::saved_upstream& next) const {
  const auto others = group.eligible_count(&n);
  if (n.eligible() && others < group.config().min_available)
    return min_available_refusal(group, n, upstream::drain_refused{others});
  return peers_budget(group, n, next);
}

net_types::task<std::optional<refusal>> control_plane::drain(upstream_group& group, node& n, bool force) {
  if (link_) {
    // The budget is decided on this replica's view of the shared state's version; the version check in
    // Redis makes sure no other replica's change slipped in between.
    co_return co_await shared_change(
        group,
        [&](upstream::saved_upstream& s, bool& changes) -> std::optional<refusal> {
          auto* sn = shared_entry(s, group, n);
          if (!sn || sn->admin != admin_state::ready) return std::nullopt;  // removed, or out of rotation already
          if (!force)
            if (auto refused = shared_budget(group, n, s)) return refused;
          sn->admin = admin_state::draining;
          changes = true;
          return std::nullopt;
        },
        /*budget=*/!force);
  }
  if (auto refused = begin_drain(group, n, force)) co_return refused;
  std::string change = "node ";
  change += n.name() + " of upstream " + group.name() + " is out of rotation";
  co_return co_await persisted(std::move(change));
}

std::optional<refusal> control_plane::begin_drain(upstream_group& group, node& n, bool force) {
  const bool was_ready = n.admin.load() == admin_state::ready;
  if (const auto refused = drains_.drain(group, n, force, std::chrono::steady_clock::now()))
    return min_available_refusal(group, n, *refused);
  if (was_ready) changed();
  return std::nullopt;
}

void control_plane::close_tunnels_at(const upstream_group& group, const node& n,
                                     std::chrono::steady_clock::time_point deadline) {
  drains_.close_tunnels_at(n, deadline);
  if (link_)
    link_->announce_tunnel_deadline(group.name(), n.name(),
                                    std::chrono::system_clock::now() + (deadline - std::chrono::steady_clock::now()));
}

std::int64_t control_plane::close_tunnels(upstream_group& group, node& n) {
  return drains_.deadline_passed(group, n, std::chrono::steady_clock::now());
}

net_types::task<std::optional<refusal>> control_plane::undrain(upstream_group& group, node& n) {
  if (link_) {
    co_return co_await shared_change(group, [&](upstream::saved_upstream& s, bool& changes) -> std::optional<refusal> {
      auto* sn = shared_entry(s, group, n);
      if (!sn)
        return refusal{409, "removed",
                       "node " + n.name() + " of upstream " + group.name() + " was removed (through another replica)"};
      if (sn->admin == admin_state::ready) return std::nullopt;
      sn->admin = admin_state::ready;
      changes = true;
      return std::nullopt;
    });
  }
  std::string change = "node ";
  change += n.name() + " of upstream " + group.name() + " is back in rotation";
  // A node that is already wanted keeps its health: resetting it would take a serving node out.
  if (n.admin.load() == admin_state::ready) co_return co_await persisted(std::move(change));
  // Health first: for a moment the node would otherwise be wanted with its health from before the upgrade.
  checker_.reset(group, n);
  drains_.undrain(n);
  spdlog::info("node {} of upstream {} undrained: back in rotation once its health checks pass", n.name(),
               group.name());
  changed();
  co_return co_await persisted(std::move(change));
}

// The checks before an added node exists: a refusal, or nothing.
std::optional<refusal> control_plane::refuse_addition(const upstream_group& group, const std::string& name,
                                                      const std::optional<conf::host_port>& hp,
                                                      const std::string& address, std::uint32_t weight) const {
  if (!upstream::valid_added_node_name(name))
    return refusal{400, "bad_request", "name must be 1 to 64 letters, digits, '-', '_' or '.'"};
  if (!hp || hp->port == 0) return refusal{400, "bad_request", "address must be host:port, got \"" + address + "\""};
  if (weight < 1 || weight > 1000) return refusal{400, "bad_request", "weight must be from 1 to 1000"};
  if (group.find(name)) return refusal{409, "exists", "upstream " + group.name() + " already has a node " + name};
  if (group.nodes()->size() >= conf::max_nodes_per_upstream) {
    std::string message = "an upstream holds at most ";
    message += std::to_string(conf::max_nodes_per_upstream);
    message += " nodes";
    return refusal{409, "too_many_nodes", message};
  }
  return std::nullopt;
}

net_types::task<std::variant<std::shared_ptr<node>, refusal>> control_plane::add_node(
    std::shared_ptr<upstream_group> group, std::string name, std::string address, std::uint32_t weight) {
  const auto hp = conf::parse_host_port(address);
  if (auto refused = refuse_addition(*group, name, hp, address, weight)) co_return *refused;
  auto nodes = *group->nodes();
  std::string error;
  auto endpoints = upstream::resolve_node(*hp, error);  // blocking, but only for a name; IPs resolve at once
  if (endpoints.empty()) co_return refusal{400, "bad_request", error};
  if (link_) {
    auto refused =
        co_await shared_change(*group, [&](upstream::saved_upstream& s, bool& changes) -> std::optional<refusal> {
          if (std::any_of(s.nodes.begin(), s.nodes.end(), [&](const auto& sn) { return sn.name == name; }))
            return refusal{409, "exists", "upstream " + group->name() + " already has a node " + name};
          s.nodes.push_back({name, *hp, weight, admin_state::ready, /*added=*/true});
          std::erase(s.removed, name);
          changes = true;
          return std::nullopt;
        });
    if (refused) co_return *refused;
    if (auto created = group->find(name)) co_return created;
    co_return refusal{500, "not_applied",
                      "node " + name + " was recorded for every replica but not added here; see the log"};
  }
  auto created = std::make_shared<node>(name, *hp, weight, std::move(endpoints));
  checker_.watch(group, created);  // health unknown (warming) until its checks pass
  nodes.push_back(created);
  group->publish(std::move(nodes));
  spdlog::info("node {} ({}) added to upstream {}", name, created->address(), group->name());
  changed();
  std::string change = "node ";
  change += name + " was added to upstream " + group->name();
  if (auto refused = co_await persisted(std::move(change))) co_return *refused;
  co_return created;
}

net_types::task<std::optional<refusal>> control_plane::remove_node(upstream_group& group, std::shared_ptr<node> n,
                                                                   bool force) {
  if (link_) {
    co_return co_await shared_change(
        group,
        [&](upstream::saved_upstream& s, bool& changes) -> std::optional<refusal> {
          const auto entry =
              std::find_if(s.nodes.begin(), s.nodes.end(), [&](const auto& sn) { return sn.name == n->name(); });
          const auto& configured = group.config().nodes;
          const bool is_configured =
              std::any_of(configured.begin(), configured.end(), [&](const auto& c) { return c.name == n->name(); });
          if (entry == s.nodes.end() &&
              (!is_configured || std::find(s.removed.begin(), s.removed.end(), n->name()) != s.removed.end()))
            return std::nullopt;  // removed already
          if (!force)
            if (auto refused = shared_budget(group, *n, s)) return refused;
          if (entry != s.nodes.end()) s.nodes.erase(entry);
          if (is_configured) s.removed.push_back(n->name());
          changes = true;
          return std::nullopt;
        },
        /*budget=*/!force);
  }
  if (const auto refused = drains_.remove(group, *n, force, std::chrono::steady_clock::now()))
    co_return min_available_refusal(group, *n, *refused);
  changed();
  std::string change = "node ";
  change += n->name() + " of upstream " + group.name() + " is being removed";
  co_return co_await persisted(std::move(change));
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
    std::erase_if(retired_logs_, [](const auto& log) { return log.use_count() == 1; });  // closed here
    if (drains_.tick(std::chrono::steady_clock::now())) {
      changed();
      if (link_) link_->beat_soon();  // a drain settled: the other replicas' waits want to know
    }
    if (confirmation_) check_confirmation();
    // One save at a time from here: a slow disk must not pile them up.
    if (unsaved() && saves_done_ == saves_asked_ && std::chrono::steady_clock::now() >= next_save_attempt_)
      start_save();
  }
}

net_types::task<std::optional<refusal>> control_plane::persisted(std::string change) {
  if (!unsaved()) co_return std::nullopt;
  const auto target = changes_;
  const auto attempt = start_save();
  while (saves_done_ < attempt) co_await next_save_completion();
  if (saved_ >= target) co_return std::nullopt;
  change += ", but the state file could not be written (";
  change += save_error_;
  change += "): a restart now would forget it. The change stays in effect; the save is retried every second.";
  co_return refusal{500, "persist_failed", std::move(change)};
}

net_types::task<void> control_plane::next_save_completion() {
  net_types::timer woken(io_.get_executor());
  woken.expires_at(net_types::timer::time_point::max());
  save_waiters_.push_back(&woken);
  co_await woken.async_wait(net_types::use_tuple);  // cancelled by on_saved
}

std::uint64_t control_plane::start_save() {
  const auto attempt = ++saves_asked_;
  if (saves_held_) {  // the file is a binary upgrade's successor's: nothing written, the changes stay unsaved
    saves_done_ = attempt;
    return attempt;
  }
  if (!store_) {
    saved_ = changes_;
    saves_done_ = attempt;
    return attempt;
  }
  store_->save(snapshot(),
               [this, version = changes_, attempt](const std::string& error) { on_saved(version, attempt, error); });
  return attempt;
}

void control_plane::on_saved(std::uint64_t version, std::uint64_t attempt, const std::string& error) {
  saves_done_ = attempt;
  if (error.empty()) {
    saved_ = std::max(saved_, version);
    if (!save_error_.empty()) spdlog::info("admin state saved to the {} again", store_->describe());
    save_error_.clear();
  } else {
    // Logged once per distinct reason, not every second.
    if (error != save_error_)
      spdlog::error("cannot save the admin state: {} (the changes hold in memory; retried every second)", error);
    save_error_ = error;
    next_save_attempt_ = std::chrono::steady_clock::now() + save_retry_interval;
  }
  for (auto* waiter : std::exchange(save_waiters_, {})) waiter->cancel();
}

upstream::saved_state control_plane::snapshot() const {
  upstream::saved_state state;
  for (std::size_t u = 0; u < runtime_->upstreams.size(); ++u) state.upstreams.push_back(snapshot_upstream(u));
  return state;
}

upstream::saved_upstream control_plane::snapshot_upstream(std::size_t u) const {
  const auto& group = *runtime_->upstreams[u];
  const auto& configured = runtime_->config.upstreams[u].nodes;
  upstream::saved_upstream su;
  su.name = group.name();
  // A node waiting to be removed counts as removed: after a restart nothing is in flight on it.
  upstream::node_list nodes;
  for (const auto& n : *group.nodes())
    if (!drains_.removal_pending(*n)) nodes.push_back(n);
  // The configured node of the same name and address, if any. Otherwise the node was added through the
  // API (and a configured node of that name, re-added with another address, counts as removed).
  auto configured_as = [&](const node& n) {
    return std::any_of(configured.begin(), configured.end(),
                       [&](const auto& c) { return c.name == n.name() && conf::to_string(c.address) == n.address(); });
  };
  for (const auto& n : nodes)
    su.nodes.push_back(
        {n->name(), *conf::parse_host_port(n->address()), n->weight(), n->admin.load(), !configured_as(*n)});
  for (const auto& c : configured)
    if (std::none_of(nodes.begin(), nodes.end(),
                     [&](const auto& n) { return configured_as(*n) && n->name() == c.name; }))
      su.removed.push_back(c.name);
  return su;
}

}  // namespace drawbridge::admin
