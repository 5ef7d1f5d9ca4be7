#pragma once
// The three instruments of drawbridge's metrics, each written by one thread only (its worker, or the
// control thread) and read by the scrape on the control thread. A single writer needs no atomic
// read-modify-write: a relaxed load and store compile to plain moves, so counting costs the hot path
// no lock prefix and no shared cache line. Readers may see a value a moment old, never a torn one.
//
// DRAWBRIDGE_NO_METRICS compiles every update out (the benchmark's baseline for the cost of metrics).

#include <array>
#include <atomic>
#include <cstdint>

namespace drawbridge::metrics {

class counter {
 public:
  void add(std::uint64_t n = 1) {
#ifndef DRAWBRIDGE_NO_METRICS
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
#else
    (void)n;
#endif
  }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Goes up and down (open connections): its writer adds and subtracts.
class gauge {
 public:
  void add(std::int64_t n) {
#ifndef DRAWBRIDGE_NO_METRICS
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
#else
    (void)n;
#endif
  }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Upper bounds of the duration histograms, in seconds: 1 ms to 300 s (the longest read timeout).
inline constexpr std::array<double, 17> duration_bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                           1,     2.5,    5,     10,   30,    60,   120, 300};

// Counts per bucket (not cumulative; the scrape sums them) and the sum in microseconds.
class histogram {
 public:
  void observe_ms(double ms) {
    std::size_t i = 0;
    const double seconds = ms / 1000;
    while (i < duration_bounds.size() && seconds > duration_bounds[i]) ++i;
    buckets_[i].add();
    sum_us_.add(ms > 0 ? static_cast<std::uint64_t>(ms * 1000) : 0);
  }
  // Bucket i counts observations in (bound[i-1], bound[i]]; the last one those above every bound.
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].value(); }
  std::uint64_t sum_us() const { return sum_us_.value(); }

 private:
  std::array<counter, duration_bounds.size() + 1> buckets_;
  counter sum_us_;
};

}  // namespace drawbridge::metrics
