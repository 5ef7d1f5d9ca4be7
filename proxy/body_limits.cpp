#include "proxy/body_limits.hpp"

#include <algorithm>

namespace drawbridge::proxy {

std::chrono::steady_clock::time_point body_read_deadline(std::chrono::steady_clock::time_point started,
                                                         std::chrono::steady_clock::time_point now, std::uint64_t bytes,
                                                         std::chrono::milliseconds gap, std::uint64_t min_rate) {
  const auto by_gap = now + gap;
  if (min_rate == 0) return by_gap;
  // `bytes` at min_rate last this long; the grace comes first whatever was read.
  const auto earned = std::chrono::milliseconds(bytes / min_rate * 1000 + bytes % min_rate * 1000 / min_rate);
  return std::min(by_gap, started + std::max(body_rate_grace, earned));
}

}  // namespace drawbridge::proxy
