#pragma once
// One backend endpoint and its lifecycle (admission, drain, health, passive ejection). Shared by all
// workers: its state is atomics that any thread reads without locks and only this class writes.

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conf/address.hpp"
#include "metrics/shards.hpp"
#include "upstream/owned_atomic.hpp"
#include "upstream/warning_limiter.hpp"

namespace drawbridge::upstream {

// What the operator wants (changed through the admin API).
enum class admin_state : std::uint8_t { ready, draining, drained };
// What the health checks observed. Without active checks a node starts healthy.
enum class health_state : std::uint8_t { unknown, healthy, unhealthy };
// The one word shown to people, derived from admin state, health, ejection and slow start.
enum class node_state : std::uint8_t { active, warming, draining, drained, unhealthy, ejected };

const char* to_string(admin_state s);
const char* to_string(health_state s);
const char* to_string(node_state s);

class node;

// What node::try_admit decided.
enum class admission : std::uint8_t { admitted, at_capacity, not_ready };

// Counts a request in flight on a node for the lifetime of the guard (node::try_admit makes them). Empty
// when the node refused the request; result() says why. Movable, so that whoever holds the request holds it.
class in_flight_guard {
 public:
  in_flight_guard() = default;
  // A moved-from guard holds nothing and says so (not_ready), like a default-made one.
  in_flight_guard(in_flight_guard&& other) noexcept
      : node_(std::exchange(other.node_, nullptr)), result_(std::exchange(other.result_, admission::not_ready)) {}
  in_flight_guard& operator=(in_flight_guard&& other) noexcept {
    if (this != &other) {
      release();
      node_ = std::exchange(other.node_, nullptr);
      result_ = std::exchange(other.result_, admission::not_ready);
    }
    return *this;
  }
  in_flight_guard(const in_flight_guard&) = delete;
  in_flight_guard& operator=(const in_flight_guard&) = delete;
  ~in_flight_guard() { release(); }

  explicit operator bool() const { return node_ != nullptr; }
  admission result() const { return result_; }
  // The request no longer counts (the destructor does this too).
  void release();

 private:
  friend class node;
  in_flight_guard(node* n, admission result) : node_(n), result_(result) {}
  node* node_ = nullptr;
  admission result_ = admission::not_ready;
};

class node {
 public:
  node(std::string name, conf::host_port address, std::uint32_t weight,
       std::vector<boost::asio::ip::tcp::endpoint> endpoints);
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  const std::string& name() const { return name_; }
  const std::string& address() const { return address_text_; }
  const conf::host_port& host_port() const { return address_; }
  std::uint32_t weight() const { return weight_.load(std::memory_order_relaxed); }
  // Control thread: a config reload changed the node's weight. Balancers read it at each pick.
  void set_weight(std::uint32_t weight) { weight_.store(weight, std::memory_order_relaxed); }
  // Resolved once at start-up; tried in order on connect.
  const std::vector<boost::asio::ip::tcp::endpoint>& endpoints() const { return endpoints_; }

  // A node takes new requests only when the operator wants it, the checks agree and it is not ejected.
  bool eligible() const {
    return admin.load(std::memory_order_relaxed) == admin_state::ready &&
           health.load(std::memory_order_relaxed) == health_state::healthy && !ejected.load(std::memory_order_relaxed);
  }

  // The display word. `now_ms` and `slow_start_ms` decide whether an eligible node is still ramping up.
  node_state state(std::int64_t now_ms, std::int64_t slow_start_ms) const;

  // Slow start: the share of its weight an eligible node gets at `now_ms`, from 1/1000 to 1000/1000.
  std::int64_t ramp_permille(std::int64_t now_ms, std::int64_t slow_start_ms) const {
    const auto since = ramp_start_ms.load(std::memory_order_relaxed);
    if (slow_start_ms <= 0 || since < 0 || now_ms - since >= slow_start_ms) return 1000;
    return std::max<std::int64_t>(1, (now_ms - since) * 1000 / slow_start_ms);
  }

  // --- Admission and drain ---
  //
  // The drain guarantee, "drained means nothing in flight and nothing will be", rests on two pairs of
  // sequentially consistent operations on `in_flight` and `admin`, here and nowhere else:
  //   try_admit:        in_flight += 1, then read admin (back out unless ready);
  //   begin_drain/settle: write admin = draining, then read in_flight (drained only at 0).
  // All four are seq_cst, so they fall in one total order: either the request's increment comes before the
  // drain's store, and settle's later read counts it (or its decrement, once it finished), or the store
  // comes first, and the request's later read sees `draining` and gives its count back without touching
  // the node. Relaxed reads elsewhere (eligible(), balancers) only choose; this re-check decides.

  // Any worker. Counts a request on the node when the node has fewer than `limit` in flight
  // (max_connections_per_node; 0 = no limit) and its admin state is still `ready`; an admitted request
  // also counts in requests_total. The limit is a compare-exchange: requests racing for the last slot
  // never both go over, nor both step back.
  in_flight_guard try_admit(std::int64_t limit) {
    auto& count = in_flight.value_;
    if (limit <= 0) {
      count.fetch_add(1, std::memory_order_seq_cst);
    } else {
      auto current = count.load(std::memory_order_relaxed);
      do {
        if (current >= limit) return in_flight_guard(nullptr, admission::at_capacity);
      } while (
          !count.compare_exchange_weak(current, current + 1, std::memory_order_seq_cst, std::memory_order_relaxed));
    }
    in_flight_guard guard(this, admission::admitted);
    if (admin.value_.load(std::memory_order_seq_cst) != admin_state::ready) {
      guard.release();
      guard.result_ = admission::not_ready;
      return guard;
    }
    requests_total.value_.fetch_add(1, std::memory_order_relaxed);
    return guard;
  }
  // Control thread, under the upstream's lock (upstream_group::begin_drain decides min_available):
  // ready → draining. False when the node was not ready.
  bool begin_drain();
  // Control thread: draining with nothing in flight → drained. True when this call made it drained.
  bool settle();
  // Control thread: back to ready (the caller resets health first, see health_checker::reset).
  void undrain();
  // Start-up only, before any worker runs: the admin state a state store remembers.
  void restore(admin_state s) { admin.value_.store(s, std::memory_order_seq_cst); }
  // Control thread: the node left its upstream's list; its health-check loop ends.
  void mark_removed() { removed.value_.store(true, std::memory_order_relaxed); }
  // Control thread: every worker ends this node's open WebSocket tunnels with a close frame (1001) within
  // a tick. Returns how many were open (nothing is asked when none was).
  std::int64_t ask_tunnels_to_close();
  // Worker: a tunnel to this node opened or ended (it also counts in in_flight, through its request).
  void tunnel_opened() { tunnels.value_.fetch_add(1, std::memory_order_relaxed); }
  void tunnel_closed() { tunnels.value_.fetch_sub(1, std::memory_order_relaxed); }

  // --- Health and passive failures ---

  // Control thread (health checks, undrain, add): the observed health; with `ramp_from_ms`, slow start
  // restarts from then (stored first, so that a worker that sees the new health sees the ramp too).
  void record_health(health_state h, std::optional<std::int64_t> ramp_from_ms = std::nullopt) {
    if (ramp_from_ms) ramp_start_ms.value_.store(*ramp_from_ms, std::memory_order_relaxed);
    health.value_.store(h, std::memory_order_relaxed);
  }
  // Any worker: a failure that counts toward passive ejection. Returns the run of them now.
  std::uint32_t count_failure() {
    failures_total.value_.fetch_add(1, std::memory_order_relaxed);
    return consecutive_failures.value_.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  // Any worker: a good answer ends the run of failures. Cheap when there was none (a load, no store).
  void count_success() {
    if (consecutive_failures.value_.load(std::memory_order_relaxed) != 0) clear_failures();
  }
  // A fresh start for passive ejection (undrain).
  void clear_failures() { consecutive_failures.value_.store(0, std::memory_order_relaxed); }
  // Any worker: a connect (or TLS handshake) to the node failed.
  void count_connect_failure() { connect_failures_total.value_.fetch_add(1, std::memory_order_relaxed); }
  // Until when the current ejection lasts (steady clock ms); meaningful while `ejected`.
  std::int64_t ejected_until_ms() const { return ejection_.until_ms; }

  // --- Application version (version affinity, upstream/node_version.hpp) ---

  // The version the node last reported, interned; null = not known. Any thread, without a lock.
  const std::string* version() const { return version_.load(std::memory_order_acquire); }
  // Whether the node is known to run version `v` (one a client names, compared by value).
  bool runs_version(std::string_view v) const {
    const auto* known = version();
    return known && *known == v;
  }
  // Any thread (health checks, workers reading a response's header): the node reports `text`. Cheap when
  // unchanged (a comparison); a text that is not a valid version changes nothing.
  void learn_version(std::string_view text);
  // Control thread: forget it (an undrain: a node restarted on another build is learned again from the
  // checks that make it healthy).
  void forget_version() { version_.store(nullptr, std::memory_order_release); }
  // When this node was last made ready by an undrain or added: a process-wide sequence, 0 = never. The
  // version of the most recent one that is eligible is the one new visitors get.
  std::uint64_t activation() const { return activation_.load(std::memory_order_relaxed); }
  // Control thread: the node was just undrained or added.
  void mark_activated();

  // --- State, readable by any thread; written only through the methods above ---

  // What the operator wants (control thread) and what the checks observed.
  owned_atomic<admin_state, node> admin{admin_state::ready};
  owned_atomic<health_state, node> health{health_state::healthy};
  // Set by passive ejection (any worker, under the upstream's ejection lock), cleared by the control thread.
  owned_atomic<bool, node> ejected{false};
  // When the node last became eligible (steady clock ms), for slow start; -1 = not ramping.
  owned_atomic<std::int64_t, node> ramp_start_ms{-1};
  // Set when the node is removed from its upstream: its health-check loop ends.
  owned_atomic<bool, node> removed{false};

  // Requests currently assigned to this node, across all workers (least_request reads it).
  owned_atomic<std::int64_t, node> in_flight{0};
  // Open WebSocket tunnels to this node; each also counts in in_flight.
  owned_atomic<std::int64_t, node> tunnels{0};
  // Raised by ask_tunnels_to_close: a worker's tick compares it with the value each tunnel opened under.
  owned_atomic<std::uint32_t, node> tunnel_close_epoch{0};
  owned_atomic<std::uint64_t, node> requests_total{0};
  owned_atomic<std::uint64_t, node> connect_failures_total{0};
  // Failures that count toward passive ejection (connect errors, resets, 502/503/504), and the current
  // run of them without a success in between.
  owned_atomic<std::uint64_t, node> failures_total{0};
  owned_atomic<std::uint32_t, node> consecutive_failures{0};
  owned_atomic<std::uint64_t, node> ejections_total{0};

  // Metrics: each worker's counts about this node, and the health checks' (control thread).
  mutable metrics::per_worker<metrics::node_shard> stats;  // written through const views too
  metrics::counter health_checks_passed;
  metrics::counter health_checks_failed;

  // At most once per `interval` across all workers, for a warning that would otherwise repeat with every
  // request while the node is down: how many were held back since the last one, or nullopt (this one is
  // held back). Any thread; const, so that a request holding a const view can still warn.
  std::optional<std::uint64_t> warning_due(std::chrono::steady_clock::time_point now,
                                           std::chrono::milliseconds interval) const {
    return warnings_.due(now, interval);
  }

 private:
  friend class in_flight_guard;
  // Passive ejection decides under its upstream's lock, with the bookkeeping below.
  friend class upstream_group;
  // Sets states directly for the sans-IO unit tests (tests/unit/upstream).
  friend struct node_test_access;

  struct ejection_record {
    std::int64_t until_ms = 0;
    std::int64_t last_end_ms = -1;
    std::uint32_t in_a_row = 0;
  };
  // The guard's request ended. Relaxed: only the increment takes part in the drain ordering.
  void end_request() { in_flight.value_.fetch_sub(1, std::memory_order_relaxed); }
  // Under the upstream's ejection lock.
  void eject(std::int64_t until_ms);
  void end_ejection(std::int64_t now_ms);

  std::string name_;
  conf::host_port address_;
  std::string address_text_;
  std::atomic<std::uint32_t> weight_;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
  std::atomic<const std::string*> version_{nullptr};
  std::atomic<std::uint64_t> activation_{0};
  ejection_record ejection_;  // guarded by the upstream's ejection lock
  mutable warning_limiter warnings_;
};

inline void in_flight_guard::release() {
  if (node_) node_->end_request();
  node_ = nullptr;
}

// How long a tunnel told to go away may take to finish passing on the node's frame in progress and to
// send its close frame; after that it is cut without one. The worker notices the request within a tick.
inline constexpr std::chrono::milliseconds tunnel_close_limit{2000};

}  // namespace drawbridge::upstream
