#pragma once
// The Prometheus text exposition format, version 0.0.4: what a scrape of /metrics returns. Families are
// written one at a time (HELP, TYPE, then every sample), labels escaped as the format asks.

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "metrics/counter.hpp"

namespace drawbridge::metrics {

inline constexpr std::string_view exposition_content_type = "text/plain; version=0.0.4; charset=utf-8";

using label = std::pair<std::string_view, std::string_view>;

// A histogram summed over shards: per-bucket counts (not cumulative) and the sum in microseconds.
struct histogram_totals {
  std::array<std::uint64_t, duration_bounds.size() + 1> buckets{};
  std::uint64_t sum_us = 0;
  void add(const histogram& h) {
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += h.bucket(i);
    sum_us += h.sum_us();
  }
};

class exposition {
 public:
  // Starts a family: `type` is "counter", "gauge" or "histogram".
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, std::initializer_list<label> labels, double value);
  void sample(std::string_view name, std::initializer_list<label> labels, std::uint64_t value);
  void sample(std::string_view name, std::initializer_list<label> labels, std::int64_t value);
  // The _bucket (cumulative, with le), _sum (seconds) and _count samples of one histogram series.
  void histogram(std::string_view name, std::initializer_list<label> labels, const histogram_totals& h);

  const std::string& text() const { return out_; }

 private:
  void series(std::string_view name, std::initializer_list<label> labels, label extra = {});
  std::string out_;
};

}  // namespace drawbridge::metrics
