#include "upstream/node.hpp"

namespace drawbridge::upstream {

node::node(std::string name, conf::host_port address, std::uint32_t weight,
           std::vector<boost::asio::ip::tcp::endpoint> endpoints)
    : name_(std::move(name)),
      address_text_(conf::to_string(address)),
      weight_(weight),
      endpoints_(std::move(endpoints)) {}

bool node::warning_due(std::chrono::steady_clock::time_point now, std::chrono::milliseconds interval) {
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  auto last = last_warning_ms_.load(std::memory_order_relaxed);
  // One winner per interval even when several workers fail at once.
  while (last < 0 || now_ms - last >= interval.count()) {
    if (last_warning_ms_.compare_exchange_weak(last, now_ms, std::memory_order_relaxed)) return true;
  }
  return false;
}

}  // namespace drawbridge::upstream
