#include "upstream/node.hpp"

#include "upstream/node_version.hpp"

namespace drawbridge::upstream {

node::node(std::string name, conf::host_port address, std::uint32_t weight,
           std::vector<boost::asio::ip::tcp::endpoint> endpoints)
    : name_(std::move(name)),
      address_(std::move(address)),
      address_text_(conf::to_string(address_)),
      weight_(weight),
      endpoints_(std::move(endpoints)) {}

const char* to_string(admin_state s) {
  switch (s) {
    case admin_state::ready:
      return "ready";
    case admin_state::draining:
      return "draining";
    case admin_state::drained:
      return "drained";
  }
  return "?";
}

const char* to_string(health_state s) {
  switch (s) {
    case health_state::unknown:
      return "unknown";
    case health_state::healthy:
      return "healthy";
    case health_state::unhealthy:
      return "unhealthy";
  }
  return "?";
}

const char* to_string(node_state s) {
  switch (s) {
    case node_state::active:
      return "active";
    case node_state::warming:
      return "warming";
    case node_state::draining:
      return "draining";
    case node_state::drained:
      return "drained";
    case node_state::unhealthy:
      return "unhealthy";
    case node_state::ejected:
      return "ejected";
  }
  return "?";
}

bool node::begin_drain() {
  // Sequentially consistent: see the drain ordering in node.hpp. A compare-exchange, so that a drain of a
  // node that is not ready changes nothing.
  auto expected = admin_state::ready;
  return admin.value_.compare_exchange_strong(expected, admin_state::draining, std::memory_order_seq_cst);
}

bool node::settle() {
  if (admin.value_.load(std::memory_order_seq_cst) != admin_state::draining) return false;
  if (in_flight.value_.load(std::memory_order_seq_cst) != 0) return false;
  admin.value_.store(admin_state::drained, std::memory_order_seq_cst);
  return true;
}

void node::undrain() {
  mark_activated();
  admin.value_.store(admin_state::ready, std::memory_order_seq_cst);
}

void node::learn_version(std::string_view text) {
  const auto* current = version();
  if (text.empty() || (current && *current == text)) return;
  if (const auto* interned = intern_version(text)) version_.store(interned, std::memory_order_release);
}

void node::mark_activated() {
  static std::atomic<std::uint64_t> sequence{0};
  activation_.store(sequence.fetch_add(1, std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

std::int64_t node::ask_tunnels_to_close() {
  const auto open = tunnels.value_.load(std::memory_order_relaxed);
  if (open > 0) tunnel_close_epoch.value_.fetch_add(1, std::memory_order_relaxed);
  return open;
}

void node::eject(std::int64_t until_ms) {
  ejection_.until_ms = until_ms;
  ejections_total.value_.fetch_add(1, std::memory_order_relaxed);
  ejected.value_.store(true, std::memory_order_relaxed);
}

void node::end_ejection(std::int64_t now_ms) {
  ejection_.last_end_ms = now_ms;
  clear_failures();
  ramp_start_ms.value_.store(now_ms, std::memory_order_relaxed);
  ejected.value_.store(false, std::memory_order_relaxed);
}

node_state node::state(std::int64_t now_ms, std::int64_t slow_start_ms) const {
  switch (admin.load(std::memory_order_relaxed)) {
    case admin_state::draining:
      return node_state::draining;
    case admin_state::drained:
      return node_state::drained;
    case admin_state::ready:
      break;
  }
  if (ejected.load(std::memory_order_relaxed)) return node_state::ejected;
  switch (health.load(std::memory_order_relaxed)) {
    case health_state::unhealthy:
      return node_state::unhealthy;
    case health_state::unknown:
      return node_state::warming;
    case health_state::healthy:
      break;
  }
  return ramp_permille(now_ms, slow_start_ms) < 1000 ? node_state::warming : node_state::active;
}

}  // namespace drawbridge::upstream
