#pragma once
// Where the workers find the current runtime. The composition root publishes a new snapshot (a config
// reload builds one); a worker notices it with one atomic load at its next accept or tick and takes it
// for the sessions it starts from then on. A session keeps the snapshot it started with to its end, so
// a request never sees half of one config and half of another; a keep-alive session on an old snapshot
// closes after the response in progress (session.cpp), so every connection moves on within a request.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

#include "proxy/runtime.hpp"

namespace drawbridge::proxy {

class runtime_source {
 public:
  explicit runtime_source(std::shared_ptr<const runtime> first) : current_(std::move(first)) {}
  runtime_source(const runtime_source&) = delete;
  runtime_source& operator=(const runtime_source&) = delete;

  // Any thread: how many snapshots were published before the current one (cheap: one atomic load, what
  // a worker compares on its hot path).
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Any thread: the current snapshot.
  std::shared_ptr<const runtime> current() const {
    const std::lock_guard lock(mutex_);
    return current_;
  }
  // Any thread: `next` becomes current. The generation moves after the snapshot is in place, so that a
  // reader who sees the new generation and then asks for current() gets `next` (or a newer one).
  void publish(std::shared_ptr<const runtime> next) {
    std::shared_ptr<const runtime> previous;  // let go outside the lock (it may be the last reference)
    {
      const std::lock_guard lock(mutex_);
      previous = std::exchange(current_, std::move(next));
    }
    generation_.fetch_add(1, std::memory_order_release);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const runtime> current_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace drawbridge::proxy
