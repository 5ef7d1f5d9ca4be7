#pragma once
// An atomic that every thread may read but only its owner class may write: the node's state is shared
// lock-free with the workers, and this keeps the writes in one place (upstream/node.hpp) while the reads
// (balancers, the admin API's JSON, the metrics page, tests) stay `x.load()` or a plain conversion.

#include <atomic>

namespace drawbridge::upstream {

template <typename T, typename Owner>
class owned_atomic {
 public:
  constexpr explicit owned_atomic(T initial) noexcept : value_(initial) {}
  owned_atomic(const owned_atomic&) = delete;
  owned_atomic& operator=(const owned_atomic&) = delete;

  T load(std::memory_order order = std::memory_order_seq_cst) const noexcept { return value_.load(order); }
  operator T() const noexcept { return value_.load(); }  // NOLINT(google-explicit-constructor): reads as a T

 private:
  friend Owner;
  std::atomic<T> value_;
};

}  // namespace drawbridge::upstream
