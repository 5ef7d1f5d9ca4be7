#pragma once
// One backend endpoint. Shared by all workers: its mutable parts are atomics, read without locks.

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "conf/address.hpp"

namespace drawbridge::upstream {

// What the operator wants (changed through the admin API in a later step).
enum class admin_state : std::uint8_t { ready, draining, drained };
// What the health checks observed. Without a health checker a node starts healthy.
enum class health_state : std::uint8_t { unknown, healthy, unhealthy };

class node {
 public:
  node(std::string name, conf::host_port address, std::uint32_t weight,
       std::vector<boost::asio::ip::tcp::endpoint> endpoints);

  const std::string& name() const { return name_; }
  const std::string& address() const { return address_text_; }
  std::uint32_t weight() const { return weight_; }
  // Resolved once at start-up; tried in order on connect.
  const std::vector<boost::asio::ip::tcp::endpoint>& endpoints() const { return endpoints_; }

  // A node takes new requests only when the operator wants it and the checks agree.
  bool eligible() const {
    return admin.load(std::memory_order_relaxed) == admin_state::ready &&
           health.load(std::memory_order_relaxed) == health_state::healthy;
  }

  std::atomic<admin_state> admin{admin_state::ready};
  std::atomic<health_state> health{health_state::healthy};
  // Requests currently assigned to this node, across all workers (least_request reads it).
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::uint64_t> requests_total{0};
  std::atomic<std::uint64_t> connect_failures_total{0};

  // True at most once per `interval` across all workers: for a warning that would otherwise repeat with
  // every request while the node is down. Any thread.
  bool warning_due(std::chrono::steady_clock::time_point now, std::chrono::milliseconds interval);

 private:
  std::string name_;
  std::string address_text_;
  std::uint32_t weight_;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
  std::atomic<std::int64_t> last_warning_ms_{-1};  // steady clock, in ms; -1 = never
};

// Counts a request in flight on a node for the lifetime of the guard.
class in_flight_guard {
 public:
  explicit in_flight_guard(node& n) : node_(&n) { n.in_flight.fetch_add(1, std::memory_order_relaxed); }
  ~in_flight_guard() {
    if (node_) node_->in_flight.fetch_sub(1, std::memory_order_relaxed);
  }
  in_flight_guard(const in_flight_guard&) = delete;
  in_flight_guard& operator=(const in_flight_guard&) = delete;

 private:
  node* node_;
};

}  // namespace drawbridge::upstream
