#include "proxy/log_writer.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <string>

namespace drawbridge::proxy {

// Shared by the owner and the writer's thread, so that a thread left stuck in its destination after the
// owner is gone still has everything it touches.
struct log_writer::state {
  state(destination d, std::size_t c, std::chrono::milliseconds l, std::atomic<std::uint64_t>& counter)
      : out(std::move(d)), capacity(c), latency(l), dropped(counter) {}

  const destination out;
  const std::size_t capacity;
  const std::chrono::milliseconds latency;
  std::atomic<std::uint64_t>& dropped;

  std::mutex mutex;
  std::condition_variable wakeup;    // the writer waits here for lines
  std::condition_variable finished;  // the owner waits here for the writer's end
  std::string pending;               // whole lines, each ending in '\n'
  bool wake = false;                 // the writer should take `pending` before its latency runs out
  bool closing = false;
  bool done = false;
};

namespace {
std::uint64_t count_lines(std::string_view text) {
  return static_cast<std::uint64_t>(std::count(text.begin(), text.end(), '\n'));
}
}  // namespace

log_writer::log_writer(destination out, std::size_t capacity, std::chrono::milliseconds latency,
                       std::atomic<std::uint64_t>& dropped)
    : state_(std::make_shared<state>(std::move(out), capacity, latency, dropped)) {
  thread_ = std::thread(run, state_);
}

log_writer::~log_writer() {
  std::unique_lock lock(state_->mutex);
  state_->closing = true;
  state_->wakeup.notify_one();
  if (state_->finished.wait_for(lock, close_wait, [this] { return state_->done; })) {
    lock.unlock();
    thread_.join();
    return;
  }
  // Shutting down must not hang on a reader that never reads: what is still queued is given up.
  state_->dropped.fetch_add(count_lines(state_->pending), std::memory_order_relaxed);
  state_->pending.clear();
  lock.unlock();
  thread_.detach();
}

bool log_writer::push(std::string_view line) {
  auto& s = *state_;
  bool notify = false;
  {
    const std::lock_guard lock(s.mutex);
    if (s.pending.size() + line.size() + 1 > s.capacity) {
      s.dropped.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    s.pending.append(line);
    s.pending += '\n';
    // Wake the writer early when lines must go at once, or half the room is taken: the other half is
    // what absorbs lines while it writes.
    if (!s.wake && (s.latency.count() == 0 || s.pending.size() >= s.capacity / 2)) s.wake = notify = true;
  }
  if (notify) s.wakeup.notify_one();
  return true;
}

void log_writer::run(std::shared_ptr<state> s) {
  // A reader that went away is then an EPIPE here, not a SIGPIPE that ends the process.
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);

  std::string batch;  // swapped with `pending`: both keep their capacity, no allocation per batch
  std::unique_lock lock(s->mutex);
  for (;;) {
    const auto ready = [&] { return s->closing || s->wake; };
    if (s->latency.count() > 0)
      s->wakeup.wait_for(lock, s->latency, ready);
    else
      s->wakeup.wait(lock, ready);
    if (s->closing && s->pending.empty()) break;
    s->wake = false;
    batch.swap(s->pending);
    lock.unlock();
    if (!batch.empty()) {
      const auto left = s->out(batch);
      if (!left.empty()) s->dropped.fetch_add(count_lines(left), std::memory_order_relaxed);
      batch.clear();
    }
    lock.lock();
  }
  s->done = true;
  s->finished.notify_all();
}

log_writer::destination write_to_fd(int fd) {
  return [fd](std::string_view lines) -> std::string_view {
    while (!lines.empty()) {
      const auto n = ::write(fd, lines.data(), lines.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      lines.remove_prefix(static_cast<std::size_t>(n));
    }
    return lines;
  };
}

}  // namespace drawbridge::proxy
