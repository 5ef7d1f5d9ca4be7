#pragma once
// At most one warning per interval, whichever thread would write it, and a count of those held back, so that
// a node failing every request costs one log line a second instead of one per request, and the line that is
// written still says how many there were.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace drawbridge::upstream {

class warning_limiter {
 public:
  // Any thread. When a warning is due: how many were held back since the last one written (for the note
  // below). Otherwise nullopt, and this one counts as held back.
  std::optional<std::uint64_t> due(std::chrono::steady_clock::time_point now, std::chrono::milliseconds interval) {
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    auto last = last_ms_.load(std::memory_order_relaxed);
    // One winner per interval even when several workers fail at once.
    while (last < 0 || now_ms - last >= interval.count()) {
      if (last_ms_.compare_exchange_weak(last, now_ms, std::memory_order_relaxed))
        return held_back_.exchange(0, std::memory_order_relaxed);
    }
    held_back_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }

 private:
  std::atomic<std::int64_t> last_ms_{-1};  // steady clock, in ms; -1 = never
  std::atomic<std::uint64_t> held_back_{0};
};

// " (N similar suppressed)" to end a warning with, or "" when none was.
inline std::string suppressed_note(std::uint64_t held_back) {
  return held_back == 0 ? std::string() : " (" + std::to_string(held_back) + " similar suppressed)";
}

}  // namespace drawbridge::upstream
