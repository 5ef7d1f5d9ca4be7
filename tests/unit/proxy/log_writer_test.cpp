#include "proxy/log_writer.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string>

#include "tests/support/test_client.hpp"

using namespace drawbridge::proxy;
using namespace std::chrono_literals;
using drawbridge::testing::wait_for;

namespace {

// A destination that stays inside its write until the test opens the gate, as a pipe nobody reads would.
// Shared: a writer left stuck in it outlives the test's scope.
struct gate {
  std::mutex mutex;
  std::condition_variable changed;
  bool open = false;
  bool entered = false;
  std::uint64_t lines = 0;  // written once let through

  bool wait_entered() {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 5s, [this] { return entered; });
  }
  void let_through() {
    const std::lock_guard lock(mutex);
    open = true;
    changed.notify_all();
  }
};

log_writer::destination held_at(std::shared_ptr<gate> g) {
  return [g](std::string_view lines) -> std::string_view {
    std::unique_lock lock(g->mutex);
    g->entered = true;
    g->changed.notify_all();
    g->changed.wait(lock, [&] { return g->open; });
    g->lines += static_cast<std::uint64_t>(std::count(lines.begin(), lines.end(), '\n'));
    return {};
  };
}

}  // namespace

TEST(log_writer, writes_every_line_in_order_by_the_time_it_is_destroyed) {
  std::atomic<std::uint64_t> dropped{0};
  std::mutex mutex;
  std::string written;
  std::string expected;
  {
    log_writer writer(
        [&](std::string_view lines) -> std::string_view {
          const std::lock_guard lock(mutex);
          written.append(lines);
          return {};
        },
        1 << 20, 250ms, dropped);
    for (int i = 0; i < 1000; ++i) {
      const auto line = "line " + std::to_string(i);
      EXPECT_TRUE(writer.push(line));
      expected += line + "\n";
    }
  }
  EXPECT_EQ(written, expected);
  EXPECT_EQ(dropped.load(), 0u);
}

TEST(log_writer, a_destination_that_stalls_costs_dropped_lines_never_a_waiting_caller) {
  std::atomic<std::uint64_t> dropped{0};
  auto g = std::make_shared<gate>();
  int accepted = 0;
  {
    log_writer writer(held_at(g), 4096, 0ms, dropped);
    ASSERT_TRUE(writer.push("first"));
    ASSERT_TRUE(g->wait_entered());  // the writer holds "first" and is stuck
    const std::string line(100, 'x');
    for (int i = 0; i < 1000; ++i)
      if (writer.push(line)) ++accepted;
    EXPECT_EQ(accepted, 4096 / 101);  // what the queue holds; the rest was dropped, not waited for
    EXPECT_EQ(dropped.load(), static_cast<std::uint64_t>(1000 - accepted));
    g->let_through();
  }
  EXPECT_EQ(g->lines, static_cast<std::uint64_t>(1 + accepted));
}

TEST(log_writer, destruction_gives_up_on_a_destination_that_never_returns) {
  static std::atomic<std::uint64_t> dropped{0};  // static: the writer's thread outlives this test's scope
  auto g = std::make_shared<gate>();
  auto writer = std::make_unique<log_writer>(held_at(g), 1 << 16, 0ms, dropped);
  ASSERT_TRUE(writer->push("stuck"));
  ASSERT_TRUE(g->wait_entered());
  ASSERT_TRUE(writer->push("queued 1"));
  ASSERT_TRUE(writer->push("queued 2"));
  const auto started = std::chrono::steady_clock::now();
  writer.reset();
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, log_writer::close_wait);
  EXPECT_LT(took, log_writer::close_wait + 2s);
  EXPECT_EQ(dropped.load(), 2u);  // the queued lines; "stuck" is still in the destination's hands
  g->let_through();               // the detached thread finishes on its own
  EXPECT_TRUE(wait_for([&] {
    const std::lock_guard lock(g->mutex);
    return g->lines == 1;
  }));
}

TEST(log_writer, a_pipe_nobody_reads_takes_what_fits_and_a_reader_that_leaves_is_no_sigpipe) {
  static std::atomic<std::uint64_t> dropped{0};
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  // Full before the writer starts: its first write() blocks, however the threads are scheduled.
  const std::string filler(static_cast<std::size_t>(::fcntl(fds[1], F_GETPIPE_SZ)), 'f');
  ASSERT_EQ(::write(fds[1], filler.data(), filler.size()), static_cast<ssize_t>(filler.size()));
  const std::string line(500, 'x');
  {
    log_writer writer(write_to_fd(fds[1]), 64 << 10, 0ms, dropped);
    int accepted = 0;
    for (int i = 0; i < 1000; ++i)  // 500 KB against a 64 KiB queue
      if (writer.push(line)) ++accepted;
    EXPECT_GT(dropped.load(), 0u);
    EXPECT_LT(accepted, 1000);
  }  // stuck in write(): given up after close_wait
  const auto before = dropped.load();
  ::close(fds[0]);  // the stuck write ends with EPIPE (SIGPIPE is blocked on the writer's thread)
  EXPECT_TRUE(wait_for([&] { return dropped.load() > before; }));
  // fds[1] stays open: the detached writer thread may not have left its write() on it yet, and closing a
  // descriptor under a thread that uses it is a race (ThreadSanitizer reports it). The process's end closes it.
}
