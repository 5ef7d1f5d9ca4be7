#pragma once
// What a scrape adds up: the workers' shards summed, one total per series. Read on the scrape's thread while
// the workers keep counting (see counter.hpp), so a total may be a moment old, never torn.

#include <array>
#include <cstdint>

#include "metrics/shards.hpp"

namespace drawbridge::metrics {

// A histogram summed over shards: per-bucket counts (not cumulative) and the sum in microseconds.
struct histogram_totals {
  std::array<std::uint64_t, duration_bounds.size() + 1> buckets{};
  std::uint64_t sum_us = 0;
  void add(const histogram& h) {
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += h.bucket(i);
    sum_us += h.sum_us();
  }
};

// Requests by status-code slot (see code_slot), summed.
using code_totals = std::array<std::uint64_t, code_slots>;
inline void add_codes(code_totals& into, const code_counts& from) {
  for (std::size_t i = 0; i < code_slots; ++i) into[i] += from[i].value();
}

// Calls `fn` with every worker's shard that exists so far; `shards` is a per_worker<> or a registry.
template <typename Shards, typename Fn>
void for_each_worker(const Shards& shards, Fn&& fn) {
  for (unsigned w = 0; w < max_workers; ++w)
    if (const auto* s = shards.find(w)) fn(*s);
}

}  // namespace drawbridge::metrics
