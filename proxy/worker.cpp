#include "proxy/worker.hpp"

#include "net/spawn_logged.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "proxy/awaitable.hpp"
#include "proxy/listener.hpp"
#include "proxy/session.hpp"
#include "tls/tls_socket.hpp"

namespace drawbridge::proxy {

using tcp = net::ip::tcp;

worker::worker(unsigned id, const runtime_source& source, std::atomic<std::uint64_t>& connections,
               connections_per_address& per_address)
    : id_(id),
      source_(source),
      runtime_generation_(source.generation()),
      runtime_(source.current()),
      connections_(connections),
      per_address_(per_address),
      stats_(runtime_->metrics->attach(id)),
      ids_(random_seed() ^ id),
      tick_timer_(ioc_.get_executor()),
      grace_timer_(ioc_.get_executor()),
      linger_timer_(ioc_.get_executor()) {}

worker::~worker() {
  join();
  views_.clear();
  acceptors_.clear();
}

int upstream_view::index_of(const upstream::node* n) const {
  for (std::size_t i = 0; i < nodes->size(); ++i)
    if ((*nodes)[i].get() == n) return static_cast<int>(i);
  return -1;
}

upstream_view& worker::view(const upstream::upstream_group& group) {
  upstream_view* found = nullptr;
  for (const auto& v : views_)
    if (v->group.get() == &group) {
      found = v.get();
      break;
    }
  if (!found) {
    auto made = std::make_unique<upstream_view>();
    made->group = group.shared_from_this();
    made->stats = &runtime_->metrics->upstream(group.name()).of(id_);
    found = views_.emplace_back(std::move(made)).get();
    refresh(*found, group.generation());
    take_over_pools(*found);
    return *found;
  }
  const auto generation = group.generation();
  if (generation != found->generation) refresh(*found, generation);
  return *found;
}

// A config reload made a new group of an upstream: the idle connections of the nodes it took over from
// the previous group (the same node objects) come along, unless the way to the nodes changed (TLS). Only
// into a view of the current runtime, and only from views of older ones (a session still on an older
// runtime that makes a view again must not take them back).
void worker::take_over_pools(upstream_view& fresh) {
  const auto& group = *fresh.group;
  if (!in_current_runtime(group)) return;
  for (const auto& held : views_) {
    auto& old = *held;
    if (&old == &fresh || old.group->name() != group.name() || !old.pool || in_current_runtime(*old.group)) continue;
    if (old.group->config().tls != group.config().tls) continue;
    for (std::size_t i = 0; i < fresh.nodes->size(); ++i)
      if (const int j = old.index_of((*fresh.nodes)[i].get()); j >= 0)
        fresh.pool->take_over(*old.pool, j, static_cast<int>(i));
  }
}

// Views of upstreams the current runtime no longer has (a reload replaced or removed them) go, with their
// idle connections. A session still on an older runtime that needs one again gets a fresh view.
void worker::drop_stale_views() {
  std::erase_if(views_, [&](const std::unique_ptr<upstream_view>& v) { return !in_current_runtime(*v->group); });
}

bool worker::in_current_runtime(const upstream::upstream_group& group) const {
  const auto& now = runtime_->upstreams;
  return std::any_of(now.begin(), now.end(), [&](const auto& g) { return g.get() == &group; });
}

void worker::refresh(upstream_view& v, std::uint64_t generation) {
  const auto& group = *v.group;
  // Read the list after the generation: a list newer than `generation` only causes one more refresh.
  auto nodes = group.nodes();
  const auto& config = group.config();
  if (!v.pool) {
    v.pool = std::make_unique<upstream::connection_pool>(nodes->size(), config.keepalive);
  } else {
    std::vector<int> old_index;
    for (const auto& n : *nodes) old_index.push_back(v.index_of(n.get()));
    v.pool->reassign(old_index);
  }
  v.balancer = upstream::make_balancer(config, *nodes, random_seed() + id_);
  v.nodes = std::move(nodes);
  v.generation = generation;
}

// Drain closes the idle pooled connections to a node; workers do it on their tick, since the pools are
// theirs alone.
void worker::close_idle_to_unwanted_nodes() {
  for (const auto& held : views_) {
    auto& v = view(*held->group);
    for (std::size_t i = 0; i < v.nodes->size(); ++i) {
      const auto& n = *(*v.nodes)[i];
      if (n.admin.load(std::memory_order_relaxed) != upstream::admin_state::ready &&
          v.pool->idle_count(static_cast<int>(i)) > 0)
        v.pool->close_node(static_cast<int>(i));
    }
  }
}

// A drain whose deadline passed raises its node's tunnel_close_epoch (admin API); the node's tunnels on
// this worker then go away.
void worker::close_tunnels_told_to_go() {
  for (auto* t : tunnels_) {
    const auto epoch = t->node.tunnel_close_epoch.load(std::memory_order_relaxed);
    if (epoch == t->epoch) continue;
    t->epoch = epoch;
    t->go_away("drawbridge: node drained");  // completions are posted: the set is not changed under us
  }
}

void worker::listen(owned_fd fd, tcp protocol, std::shared_ptr<const listener> l) {
  auto e = std::make_shared<acceptor_entry>(ioc_);
  e->acceptor.assign(protocol, fd.get());
  fd.release();  // the acceptor's now
  e->l = std::move(l);
  e->rt = runtime_;  // before start(): the runtime the server was made with, which lists `l`
  acceptors_.push_back(std::move(e));
}

void worker::hand_over(handed_listener h) {
  const std::lock_guard lock(handed_mutex_);
  handed_.push_back(std::move(h));
}

void worker::follow_listeners() {
  std::vector<handed_listener> handed;
  {
    const std::lock_guard lock(handed_mutex_);
    handed.swap(handed_);
  }
  const auto& now = runtime_->listeners;
  // By address: a later reload may have changed the listener the socket was bound for (a new object), and
  // then bound nothing itself, since the address was there already.
  auto listed = [&](const listener& l) { return find_listener(now, l.name) != now.end(); };
  std::vector<handed_listener> later;
  for (auto& h : handed) {
    if (stopping_) continue;  // shutting down: nothing new is accepted (the socket closes with `h`)
    if (h.generation > runtime_generation_) {
      later.push_back(std::move(h));  // for a runtime this worker has not reached yet
      continue;
    }
    if (!listed(*h.l)) continue;  // a later reload removed it again: closed with `h`
    auto e = std::make_shared<acceptor_entry>(ioc_);
    boost::system::error_code ec;
    e->acceptor.assign(h.protocol, h.fd.get(), ec);
    if (ec) {
      spdlog::error("worker {}: cannot accept on {}: {}", id_, h.l->name, ec.message());
      continue;
    }
    h.fd.release();  // the acceptor owns it now
    e->l = std::move(h.l);
    acceptors_.push_back(e);
  }
  if (!later.empty()) {
    const std::lock_guard lock(handed_mutex_);
    for (auto& h : later) handed_.push_back(std::move(h));
  }
  // Every acceptor follows the listener of its address in the runtime now current; one whose address the
  // runtime no longer lists closes (connections open on it stay, on their own runtime). Addresses are
  // unique in a config (conf/config_loader.cpp), so the name is the listener's identity.
  std::vector<std::shared_ptr<acceptor_entry>> started;
  std::erase_if(acceptors_, [&](const std::shared_ptr<acceptor_entry>& e) {
    const auto it = find_listener(now, e->l->name);
    if (it != now.end()) {
      if (!e->rt) started.push_back(e);  // just taken over: its loop starts below
      e->l = *it;                        // the same object, or the changed listener of this address
      e->rt = runtime_;
      return false;
    }
    boost::system::error_code ignored;
    e->acceptor.close(ignored);  // its loop sees operation_aborted and ends
    return true;
  });
  for (const auto& e : started) spawn_accept_loop(e);
}

void worker::follow_source() {
  const auto generation = source_.generation();
  if (generation == runtime_generation_) return;
  runtime_generation_ = generation;
  runtime_ = source_.current();
  // The new runtime's views first (a replaced upstream's new view takes the old one's idle connections
  // over), then the old ones go. Callers (the accept loop, the tick, a session between requests) hold no
  // view reference: a view is fetched again after every suspension.
  for (const auto& g : runtime_->upstreams) view(*g);
  drop_stale_views();
  follow_listeners();
}

metrics::listener_shard& worker::listener_stats(const listener& l) {
  for (const auto& [name, shard] : listener_stats_)
    if (name == l.name) return *shard;
  auto* shard = &runtime_->metrics->listener(l.name).of(id_);
  listener_stats_.emplace_back(l.name, shard);
  return *shard;
}

void worker::spawn_accept_loop(const std::shared_ptr<acceptor_entry>& e) {
  keep_running("accept", [this, e] { return accept_loop(e); });
}

template <typename MakeLoop>
void worker::keep_running(const char* what, MakeLoop start) {
  net_types::spawn_logged(ioc_.get_executor(), start(), "worker " + std::to_string(id_) + " " + what + " loop",
                          [this, what, start] {
                            if (!stopping_) keep_running(what, start);
                          });
}

void worker::start() {
  for (const auto& e : acceptors_) spawn_accept_loop(e);
  keep_running("tick", [this] { return tick_loop(); });
  thread_ = std::thread([this] {
    ioc_.run();
    spdlog::debug("worker {} stopped", id_);
  });
}

void worker::stop(std::chrono::milliseconds grace) {
  stop_grace_ms_.store(grace.count(), std::memory_order_relaxed);
  stop_requested_.store(true, std::memory_order_release);
}

void worker::join() {
  if (thread_.joinable()) thread_.join();
}

std::unique_ptr<char[]> worker::take_relay_buffer() {
  if (spare_buffers_.empty()) return std::make_unique_for_overwrite<char[]>(relay_buffer_size);
  auto buffer = std::move(spare_buffers_.back());
  spare_buffers_.pop_back();
  return buffer;
}

void worker::give_relay_buffer(std::unique_ptr<char[]> buffer) {
  // Keep a few for the next requests; beyond that, return the memory.
  if (buffer && spare_buffers_.size() < 16) spare_buffers_.push_back(std::move(buffer));
}

void worker::add_session(session_base* s) { sessions_.insert(s); }

void worker::count_request(const access_record& r, const upstream::upstream_group* upstream, const upstream::node* n) {
  stats_.bytes_received.add(r.bytes_in);
  stats_.bytes_sent.add(r.bytes_out);
  stats_.requests_by_protocol[r.protocol == "HTTP/2" ? 1 : 0].add();
  const auto slot = metrics::code_slot(r.status);
  if (!upstream) {
    stats_.requests_unrouted[slot].add();
    return;
  }
  auto& u = *view(*upstream).stats;
  // A WebSocket tunnel's request lasts as long as the tunnel: not a latency, so not in the histograms.
  const bool timed = r.status != 101;
  if (timed) u.request_duration.observe_ms(r.duration_ms);
  if (!n) {
    u.requests_without_node[slot].add();
    return;
  }
  auto& counted = n->stats.of(id_);
  counted.requests[slot].add();
  if (timed && r.upstream_ms >= 0) counted.response_duration.observe_ms(r.upstream_ms);
}

void worker::connection_closed(const listener& l, std::string_view client) {
  connections_.fetch_sub(1, std::memory_order_relaxed);
  if (per_address_.enabled() && !client.empty()) {
    boost::system::error_code ec;
    const auto address = net::ip::make_address(client, ec);
    if (!ec) per_address_.close(address);
  }
  listener_stats(l).open.add(-1);
}

void worker::remove_session(session_base* s) {
  sessions_.erase(s);
  if (stopping_ && sessions_.empty()) finish_stop();
}

task<void> worker::accept_loop(std::shared_ptr<acceptor_entry> entry) {
  net_types::timer backoff(ioc_.get_executor());
  tcp::endpoint peer;  // filled by accept itself: no getpeername() per connection
  for (;;) {
    if (!entry->acceptor.is_open()) co_return;  // a reload removed its listener
    auto [ec, socket] = co_await entry->acceptor.async_accept(peer, use_tuple);
    if (stopping_ || ec == net::error::operation_aborted) co_return;
    if (ec) {
      // Typically EMFILE: back off briefly instead of spinning on an error that will repeat.
      spdlog::warn("accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    follow_source();  // the session starts on the current runtime...
    // ...or, if a reload removed this listener since (here or in any handler that ran meanwhile), on the
    // last runtime that has it: one request, then the connection closes.
    auto rt = entry->rt;
    const listener& l = *entry->l;
    // A count shared by every worker (server.hpp); the limit is the current runtime's (a reload may move it).
    if (connections_.fetch_add(1, std::memory_order_relaxed) >= rt->config.limits.max_connections) {
      connections_.fetch_sub(1, std::memory_order_relaxed);
      listener_stats(l).refused.add();
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    if (per_address_.enabled() && !per_address_.try_open(peer.address())) {
      connections_.fetch_sub(1, std::memory_order_relaxed);
      listener_stats(l).refused.add();
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto& counted = listener_stats(l);
    counted.accepted.add();
    counted.open.add(1);
    if (!l.tls()) {
      std::make_shared<session<net_types::socket>>(*this, std::move(rt), std::move(socket), peer, l, nullptr)->start();
      continue;
    }
    // The contexts current at accept time: a reload after this point affects only later connections.
    auto contexts = l.current_contexts();
    std::shared_ptr<session<tls::tls_socket>> tls_session;
    try {
      tls::tls_socket stream(std::move(socket), contexts->default_context().native_handle());
      tls_session = std::make_shared<session<tls::tls_socket>>(*this, std::move(rt), std::move(stream), peer, l,
                                                               std::move(contexts));
    } catch (const std::exception& e) {                  // SSL_new failed (out of memory): drop this one connection
      connection_closed(l, peer.address().to_string());  // no session was made, so no session's end will count it
      spdlog::error("cannot start TLS on a new connection: {}", e.what());
      continue;
    }
    tls_session->start();
  }
}

task<bool> worker::wait_for_node_slot(std::chrono::steady_clock::time_point until, bool front) {
  if (stopping_ || slot_waiters_.size() >= max_slot_waiters || std::chrono::steady_clock::now() >= until)
    co_return false;
  net_types::timer wake(ioc_.get_executor());
  wake.expires_at(until);
  if (front)
    slot_waiters_.push_front(&wake);
  else
    slot_waiters_.push_back(&wake);
  co_await wake.async_wait(use_tuple);  // cancelled: a slot may be free, or a stop; expired: the deadline
  // Woken through node_slot_freed, it was taken out already; at its deadline or a stop, it takes itself out.
  if (const auto it = std::find(slot_waiters_.begin(), slot_waiters_.end(), &wake); it != slot_waiters_.end())
    slot_waiters_.erase(it);
  co_return !stopping_ && std::chrono::steady_clock::now() < until;
}

void worker::node_slot_freed() {
  if (slot_waiters_.empty()) return;
  slot_waiters_.front()->cancel();
  slot_waiters_.pop_front();
}

// The worker's heartbeat: notices a stop request and a newly published runtime, times out sessions' reads
// and writes (io_deadline), wakes a request waiting for a node slot, closes drained nodes' tunnels and idle
// pooled connections, and sweeps the keep-alive pools once a second.
task<void> worker::tick_loop() {
  for (unsigned tick = 1; !stopping_; ++tick) {
    tick_timer_.expires_after(std::chrono::milliseconds(50));
    auto [ec] = co_await tick_timer_.async_wait(use_tuple);
    if (ec || stopping_) co_return;
    if (stop_requested_.load(std::memory_order_acquire)) {
      begin_stop(std::chrono::milliseconds(stop_grace_ms_.load(std::memory_order_relaxed)));
      co_return;
    }
    follow_source();
    const auto now = upstream::clock::now();
    for (auto* s : sessions_) s->check_deadline(now);
    node_slot_freed();  // other workers' requests may have given slots back (the woken one passes it on)
    close_tunnels_told_to_go();
    close_idle_to_unwanted_nodes();
    // Views a session on an older runtime made again since the reload (nothing holds one across a tick).
    if (views_.size() > runtime_->upstreams.size()) drop_stale_views();
    if (tick % 20 == 0)
      for (auto& v : views_) v->pool->sweep(now);
    ticks_.fetch_add(1, std::memory_order_release);  // after the tick's work: what a waiting test relies on
  }
}

void worker::begin_stop(std::chrono::milliseconds grace) {
  if (stopping_) return;
  stopping_ = true;
  for (auto* waiter : slot_waiters_) waiter->cancel();  // waiting requests give up (503)
  for (auto& e : acceptors_) {
    boost::system::error_code ignored;
    e->acceptor.close(ignored);
  }
  tick_timer_.cancel();
  if (sessions_.empty()) return finish_stop();
  // A last call for keep-alive connections between two requests: a client may be sending its next one
  // right now, and closing the connection under it would fail that request (a binary upgrade under load
  // would drop some). A request that comes within idle_stop_linger is served, with Connection: close;
  // connections still idle then are closed. With nothing in flight, the worker is done within it.
  linger_timer_.expires_after(std::min<std::chrono::milliseconds>(idle_stop_linger, grace));
  linger_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    closing_idle_ = true;
    // Copy: a session closing synchronously would otherwise modify the set under the loop.
    const std::vector<session_base*> current(sessions_.begin(), sessions_.end());
    for (auto* s : current) s->on_stop();
  });
  grace_timer_.expires_after(grace);
  grace_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) end_grace();
  });
}

// The grace ran out: open tunnels go away (a close frame, so browsers reconnect elsewhere at once), every
// other connection is closed now, and whatever is left after tunnel_close_limit is closed too.
void worker::end_grace() {
  std::unordered_set<session_base*> going_away;
  for (auto* t : tunnels_) {
    t->go_away("drawbridge: shutting down");
    going_away.insert(t->owner);
  }
  spdlog::warn(
      "worker {}: shutdown grace expired, closing {} connection(s) ({} of them WebSocket tunnels, with a "
      "close frame)",
      id_, sessions_.size(), tunnels_.size());
  const std::vector<session_base*> left(sessions_.begin(), sessions_.end());
  for (auto* s : left)
    if (!going_away.contains(s)) s->force_close();
  if (going_away.empty()) return;
  // The tunnels' sessions still close gracefully (TLS close_notify, a brief drain): allow for that too.
  grace_timer_.expires_after(upstream::tunnel_close_limit + std::chrono::seconds(1));
  grace_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    const std::vector<session_base*> rest(sessions_.begin(), sessions_.end());
    for (auto* s : rest) s->force_close();
  });
}

void worker::finish_stop() {
  grace_timer_.cancel();
  linger_timer_.cancel();
  for (auto& v : views_) v->pool->close_all();
}

}  // namespace drawbridge::proxy
