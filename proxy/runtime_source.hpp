#pragma once
// Where the workers find the current runtime. proxy::server::publish puts a new snapshot here (a config
// reload will build one); a worker notices it with one atomic load at its next accept or tick. A session
// moves on to its worker's current runtime between requests (session.cpp, serve_request), so a request
// never sees half of one config and half of another, and a kept-alive connection changes runtime at its
// next request without being closed.

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
