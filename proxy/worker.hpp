#pragma once
// One worker: a thread running its own io_context, its own acceptor per listener (SO_REUSEPORT, so the
// kernel spreads connections), its own keep-alive pools and balancers. A session never leaves its worker,
// so nothing on the request path takes a lock.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "net/owned_fd.hpp"
#include "proxy/access_log.hpp"
#include "proxy/awaitable.hpp"
#include "proxy/connections_per_address.hpp"
#include "proxy/request_id.hpp"
#include "proxy/runtime.hpp"
#include "proxy/runtime_source.hpp"
#include "proxy/tunnel_handle.hpp"
#include "upstream/balancer.hpp"
#include "upstream/connection_pool.hpp"

namespace drawbridge::proxy {

class session_base;

// How long a stopping worker still serves a request that comes on a kept-alive connection (with
// Connection: close) before it closes the connections that stayed idle.
inline constexpr std::chrono::milliseconds idle_stop_linger{1000};
struct listener;

using drawbridge::owned_fd;

// A listening socket bound by server::publish for a listener a config reload added, and that listener.
struct handed_listener {
  owned_fd fd;
  boost::asio::ip::tcp protocol = boost::asio::ip::tcp::v4();
  std::shared_ptr<const listener> l;
  // The source generation of the runtime that lists `l`: a worker that has not reached it yet keeps the
  // socket for later (a second reload may come before the worker looked at the first).
  std::uint64_t generation = 0;
};

// A worker's own view of one upstream: the node list it last saw, and the balancer and keep-alive pool
// built for that list. Rebuilt when the upstream publishes a new node list. Found by the upstream itself
// (never by a position in a config), so views survive a new runtime that keeps the upstream.
struct upstream_view {
  std::shared_ptr<const upstream::upstream_group> group;  // held: sessions on older runtimes may still use it
  metrics::upstream_shard* stats = nullptr;               // this worker's counts of the upstream (by name)
  std::uint64_t generation = 0;
  std::shared_ptr<const upstream::node_list> nodes;
  std::unique_ptr<upstream::balancer> balancer;
  std::unique_ptr<upstream::connection_pool> pool;

  // Position of `n` in `nodes`, or -1 when the node is no longer listed.
  int index_of(const upstream::node* n) const;
};

class worker {
 public:
  // `connections` counts open downstream connections across all workers (limits.max_connections),
  // `per_address` those of each client address (limits.max_connections_per_ip).
  // `source`: where the worker finds the current runtime (it must outlive the worker).
  worker(unsigned id, const runtime_source& source, std::atomic<std::uint64_t>& connections,
         connections_per_address& per_address);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // Before start(), from the owning thread: accept on `fd` (a listening socket, bound already) for
  // listener `l`, one of the runtime the worker was made with (config reloads change the listener this
  // acceptor follows: follow_listeners). Throws boost::system::system_error.
  void listen(owned_fd fd, boost::asio::ip::tcp protocol, std::shared_ptr<const listener> l);
  // Any thread (a config reload, before it publishes the runtime that has `l`): a listening socket for
  // the new listener `l`, bound already; the worker accepts on it from its next look at the runtime on.
  void hand_over(handed_listener h);

  void start();  // spawns the thread
  // Any thread: stop accepting, close idle sessions, let in-flight requests finish for up to `grace`.
  // Takes effect at the worker's next tick (within 50 ms).
  void stop(std::chrono::milliseconds grace);
  void join();

  // --- worker thread only (sessions) ---
  boost::asio::io_context& io() { return ioc_; }
  // The runtime new requests are served with (a session takes it between requests: session_base::rt).
  const std::shared_ptr<const runtime>& current_runtime() const { return runtime_; }
  // Takes the source's runtime when a new one was published (one atomic load when not). Called at each
  // accept, tick and request start; the caller must hold no upstream_view reference (views of upstreams
  // the new runtime dropped go).
  void follow_source();
  // The worker's view of an upstream, made on first use and refreshed first if its node list changed
  // (one atomic load).
  upstream_view& view(const upstream::upstream_group& group);
  request_id_generator& ids() { return ids_; }
  bool stopping() const { return stopping_; }
  // Stopping, and a connection idle between requests is closed rather than served (begin_stop).
  bool closing_idle() const { return closing_idle_; }
  void add_session(session_base* s);
  void remove_session(session_base* s);
  // Open tunnels, which the worker asks to go away when their node's tunnel_close_epoch moves on and when
  // the shutdown grace runs out.
  void add_tunnel(tunnel_handle* t) { tunnels_.insert(t); }
  void remove_tunnel(tunnel_handle* t) { tunnels_.erase(t); }
  // Counts a finished request (metrics): `upstream` the upstream it was routed to (null when none), `n`
  // the node that answered or was last tried (null when none was).
  void count_request(const access_record& r, const upstream::upstream_group* upstream, const upstream::node* n);
  // A session of listener `l` ended (its connection was counted open at accept); `client` is its
  // address as text, when the session had one.
  void connection_closed(const listener& l, std::string_view client);
  unsigned id() const { return id_; }
  // Any thread: ticks completed so far. Tests wait on it ("the worker has checked deadlines and signals
  // since") instead of sleeping for a guessed number of ticks.
  std::uint64_t ticks() const { return ticks_.load(std::memory_order_acquire); }
  // This worker's metric shard (only this worker writes it).
  metrics::worker_shard& stats() { return stats_; }

  // Requests waiting for a slot on a node at max_connections_per_node: at most this many per worker;
  // beyond it a request gets its 503 at once (the queue is memory a flood must not grow).
  static constexpr std::size_t max_slot_waiters = 1024;
  // Queues the caller (first come, first woken) until a node slot may have come free, then true: the
  // caller tries again, and if it finds every node still full, queues again at the front. False, at
  // once or after the wait, when `until` has passed, the queue is full, or the worker is stopping.
  // `front`: back into the queue at the head (a waiter woken for nothing keeps its turn).
  task<bool> wait_for_node_slot(std::chrono::steady_clock::time_point until, bool front = false);
  // A slot may have come free (a request gave one back, or one was just taken and there may be more):
  // wakes the first waiter, which passes the turn on once it got a slot. One wake per event, not all.
  void node_slot_freed();

  // Relay buffers, recycled per worker so that a request with a body allocates nothing; a session
  // holds one only while it relays, not while idle.
  static constexpr std::size_t relay_buffer_size = 64 * 1024;
  std::unique_ptr<char[]> take_relay_buffer();
  void give_relay_buffer(std::unique_ptr<char[]> buffer);

 private:
  struct acceptor_entry;
  task<void> accept_loop(std::shared_ptr<acceptor_entry> e);
  // The counts of a listener, by its name (cached per worker).
  metrics::listener_shard& listener_stats(const listener& l);
  task<void> tick_loop();
  // Spawns one of the worker's loops (`start()` makes a fresh one); should an exception escape it (a
  // bug), it is logged and the loop started again: a worker never silently stops accepting or ticking.
  template <typename MakeLoop>
  void keep_running(const char* what, MakeLoop start);
  void begin_stop(std::chrono::milliseconds grace);
  void finish_stop();
  void close_tunnels_told_to_go();
  void end_grace();

  // Declared first so that it is destroyed last: sockets and timers below need it while they close.
  // Nothing but the worker's own thread touches its io_context (stop() only sets an atomic that the
  // worker's tick reads), so neither the scheduler nor the reactor needs locks.
  boost::asio::io_context ioc_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE};
  unsigned id_;
  const runtime_source& source_;
  // The source's generation, read before runtime_ (a publish in between only makes the next
  // follow_source() take the same snapshot again), and its runtime as of the last follow_source().
  std::uint64_t runtime_generation_;
  std::shared_ptr<const runtime> runtime_;
  std::atomic<std::uint64_t>& connections_;
  connections_per_address& per_address_;
  metrics::worker_shard& stats_;
  // One per listener. Held by its accept loop too, so that a listener a reload removed can go from this
  // list while its loop is still finishing.
  struct acceptor_entry {
    explicit acceptor_entry(boost::asio::io_context& io) : acceptor(io.get_executor()) {}
    net_types::acceptor acceptor;
    // The listener of this address and the runtime that lists it, which a session accepted here starts on:
    // the current runtime, or for an acceptor a reload closed, the last runtime that had its listener.
    std::shared_ptr<const listener> l;
    std::shared_ptr<const runtime> rt;
  };
  std::vector<std::shared_ptr<acceptor_entry>> acceptors_;
  void spawn_accept_loop(const std::shared_ptr<acceptor_entry>& e);
  // Takes the sockets server::publish handed over, and follows the current runtime's listeners: a
  // changed one's new object, a removed one's acceptor closed.
  void follow_listeners();
  std::mutex handed_mutex_;
  std::vector<handed_listener> handed_;  // from server::publish, not yet taken
  void refresh(upstream_view& v, std::uint64_t generation);
  void close_idle_to_unwanted_nodes();
  void take_over_pools(upstream_view& fresh);
  void drop_stale_views();
  bool in_current_runtime(const upstream::upstream_group& group) const;

  // Few (one per upstream): found by a linear scan. Made on first use; dropped at a tick once the current
  // runtime no longer lists its upstream (drop_stale_views).
  std::vector<std::unique_ptr<upstream_view>> views_;
  std::vector<std::pair<std::string, metrics::listener_shard*>> listener_stats_;
  request_id_generator ids_;
  std::unordered_set<session_base*> sessions_;
  std::unordered_set<tunnel_handle*> tunnels_;
  std::vector<std::unique_ptr<char[]>> spare_buffers_;
  net_types::timer tick_timer_;
  net_types::timer grace_timer_;
  net_types::timer linger_timer_;  // a stop's last call for idle connections (begin_stop)
  // Requests waiting for a node slot, each parked on its own timer (which expires at its deadline); the
  // front is woken first. Owned by the waiters' coroutines, which take themselves out on every way out.
  std::deque<net_types::timer*> slot_waiters_;
  bool stopping_ = false;
  bool closing_idle_ = false;  // stopping, and the idle connections' last call is over
  std::atomic<bool> stop_requested_{false};
  std::atomic<std::int64_t> stop_grace_ms_{0};
  std::atomic<std::uint64_t> ticks_{0};
  std::thread thread_;
};

}  // namespace drawbridge::proxy
