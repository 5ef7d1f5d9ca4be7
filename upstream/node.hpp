#pragma once
// One backend endpoint. Shared by all workers: its mutable parts are atomics, read without locks.

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "conf/address.hpp"
#include "metrics/shards.hpp"
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

class node {
 public:
  node(std::string name, conf::host_port address, std::uint32_t weight,
       std::vector<boost::asio::ip::tcp::endpoint> endpoints);

  const std::string& name() const { return name_; }
  const std::string& address() const { return address_text_; }
  const conf::host_port& host_port() const { return address_; }
  std::uint32_t weight() const { return weight_; }
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

  // Written by the control thread (admin API, health checks); read by every worker.
  std::atomic<admin_state> admin{admin_state::ready};
  std::atomic<health_state> health{health_state::healthy};
  // Set by passive ejection (any worker, under the upstream's ejection lock), cleared by the control thread.
  std::atomic<bool> ejected{false};
  // When the node last became eligible (steady clock ms), for slow start; -1 = not ramping.
  std::atomic<std::int64_t> ramp_start_ms{-1};
  // Set when the node is removed from its upstream: its health-check loop ends.
  std::atomic<bool> removed{false};

  // Requests currently assigned to this node, across all workers (least_request reads it).
  std::atomic<std::int64_t> in_flight{0};
  // Open WebSocket tunnels to this node; each also counts in in_flight.
  std::atomic<std::int64_t> tunnels{0};
  // Raised by the control thread to have every worker end this node's open tunnels with a close frame
  // ("going away"): a worker's tick compares it with the value each tunnel opened under.
  std::atomic<std::uint32_t> tunnel_close_epoch{0};
  std::atomic<std::uint64_t> requests_total{0};
  std::atomic<std::uint64_t> connect_failures_total{0};
  // Failures that count toward passive ejection (connect errors, resets, 502/503/504), and the current
  // run of them without a success in between.
  std::atomic<std::uint64_t> failures_total{0};
  std::atomic<std::uint32_t> consecutive_failures{0};

  // Metrics: each worker's counts about this node, and the health checks' (control thread).
  mutable metrics::per_worker<metrics::node_shard> stats;  // written through const views too
  metrics::counter health_checks_passed;
  metrics::counter health_checks_failed;

  // Passive-ejection bookkeeping; guarded by the upstream's ejection lock.
  std::int64_t ejected_until_ms = 0;
  std::int64_t last_ejection_end_ms = -1;
  std::uint32_t ejections_in_a_row = 0;
  std::atomic<std::uint64_t> ejections_total{0};  // written under the lock, read by the scrape without

  // At most once per `interval` across all workers, for a warning that would otherwise repeat with every
  // request while the node is down: how many were held back since the last one, or nullopt (this one is
  // held back). Any thread; const, so that a request holding a const view can still warn.
  std::optional<std::uint64_t> warning_due(std::chrono::steady_clock::time_point now,
                                           std::chrono::milliseconds interval) const {
    return warnings_.due(now, interval);
  }

 private:
  std::string name_;
  conf::host_port address_;
  std::string address_text_;
  std::uint32_t weight_;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
  mutable warning_limiter warnings_;
};

// How long a tunnel told to go away may take to finish passing on the node's frame in progress and to
// send its close frame; after that it is cut without one. The worker notices the request within a tick.
inline constexpr std::chrono::milliseconds tunnel_close_limit{2000};

// Counts a request in flight on a node for the lifetime of the guard.
class in_flight_guard {
 public:
  // Sequentially consistent, to pair with drain (see exchange::try_node).
  explicit in_flight_guard(node& n) : node_(&n) { n.in_flight.fetch_add(1, std::memory_order_seq_cst); }
  // Counts the request only while the node has fewer than `limit` in flight (max_connections_per_node;
  // 0 = no limit); admitted() says whether it did. A compare-exchange: requests racing for a node's last
  // slot never both go over, nor both step back. (A successful one is the same sequentially consistent
  // step as the increment above.)
  in_flight_guard(node& n, std::int64_t limit) : node_(&n) {
    if (limit <= 0) {
      n.in_flight.fetch_add(1, std::memory_order_seq_cst);
      return;
    }
    auto current = n.in_flight.load(std::memory_order_relaxed);
    do {
      if (current >= limit) {
        node_ = nullptr;
        return;
      }
    } while (
        !n.in_flight.compare_exchange_weak(current, current + 1, std::memory_order_seq_cst, std::memory_order_relaxed));
  }
  bool admitted() const { return node_ != nullptr; }
  ~in_flight_guard() {
    if (node_) node_->in_flight.fetch_sub(1, std::memory_order_relaxed);
  }
  in_flight_guard(const in_flight_guard&) = delete;
  in_flight_guard& operator=(const in_flight_guard&) = delete;

 private:
  node* node_;
};

}  // namespace drawbridge::upstream
