#pragma once
// A bounded queue of log lines and the thread that writes them out. Whoever logs only appends to memory:
// a destination that stops taking lines (a pipe nobody reads, a stalled disk, a terminal on hold) stalls
// the writer's thread, never a worker or the control thread. When the queue is full, lines are dropped
// and counted.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <thread>

namespace drawbridge::proxy {

class log_writer {
 public:
  // Called on the writer's thread only, with whole lines (each ending in '\n'). Returns what it could not
  // write: a tail of `lines`, empty when all went out. The lines in it count as dropped.
  using destination = std::function<std::string_view(std::string_view lines)>;

  // `capacity`: bytes queued at most (the batch in the destination's hands is not counted: memory is at
  // most twice this). `latency`: the longest a line waits before the writer takes it (batching writes);
  // zero takes each line at once. `dropped`: where dropped lines are counted; must outlive the writer.
  log_writer(destination out, std::size_t capacity, std::chrono::milliseconds latency,
             std::atomic<std::uint64_t>& dropped);
  // Writes what is queued, waiting at most `close_wait` for the destination. One still stuck then is left
  // to the writer's thread, detached (it holds what it uses), and the lines still queued count as dropped.
  ~log_writer();
  log_writer(const log_writer&) = delete;
  log_writer& operator=(const log_writer&) = delete;

  // Any thread. Queues `line` and a '\n', or drops it (false) when the queue has no room. Never waits for
  // the destination: the lock it takes is only ever held to append or swap a buffer.
  bool push(std::string_view line);

  static constexpr std::chrono::milliseconds close_wait{1000};

 private:
  struct state;
  static void run(std::shared_ptr<state> s);

  std::shared_ptr<state> state_;
  std::thread thread_;
};

// A destination that write()s to `fd` (not owned), retrying after signals. Failures (EPIPE when the
// reader went away: SIGPIPE is blocked on the writer's thread) drop what was left.
log_writer::destination write_to_fd(int fd);

}  // namespace drawbridge::proxy
