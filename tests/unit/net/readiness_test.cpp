#include "net/readiness.hpp"
#include "tests/support/readiness_hints.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/socket_state.hpp"
#include "tests/support/wait.hpp"

namespace net = boost::asio;
using stream_socket = drawbridge::net_types::socket;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using drawbridge::testing::peer_closed;
using drawbridge::testing::readable;
using drawbridge::testing::wait_for;

namespace {

// A connected loopback pair: `ours` is what the code under test reads, `peer` the other end.
struct pair {
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};  // lets poll() run epoll
  stream_socket ours{ioc.get_executor()};
  stream_socket peer{ioc.get_executor()};

  pair() {
    tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    peer.connect(acceptor.local_endpoint());
    ours = stream_socket(acceptor.accept(ioc.get_executor()));
    ours.non_blocking(true);
  }

  // Reads what is there until the socket is empty, as a read of ours that returns EAGAIN does.
  void read_until_empty() {
    char buffer[256];
    boost::system::error_code ec;
    while (!ec) ours.read_some(net::buffer(buffer), ec);
    ASSERT_EQ(ec, net::error::would_block);
  }

  // Starts a readiness wait; its result lands in `result`.
  void wait(std::optional<boost::system::error_code>& result) {
    drawbridge::net_types::async_wait_readable(ours, [&result](const boost::system::error_code& ec) { result = ec; });
  }

  // What a session does when its read-first finds nothing: read, mark the socket drained, wait.
  void park(std::optional<boost::system::error_code>& result) {
    read_until_empty();
    drawbridge::net_types::mark_drained(ours);
    wait(result);
  }

  // Runs the io_context (epoll included) until `result` is set or `limit` passes.
  void run_until(const std::optional<boost::system::error_code>& result, std::chrono::milliseconds limit) {
    wait_for(
        [&] {
          ioc.poll();
          return result.has_value();
        },
        limit, 1ms);
  }

  // Waits until what the peer sent has reached `ours`: bytes, and the peer's close too with `and_close`.
  bool arrived(bool and_close = false) {
    return wait_for(
        [&] { return readable(ours.native_handle()) && (!and_close || peer_closed(ours.native_handle())); });
  }
};

}  // namespace

TEST(readiness, a_new_socket_may_have_input_and_its_wait_completes_at_once) {
  // A wait on a socket nobody wrote to completes at once only where Asio keeps "may be ready" per socket.
  SKIP_WITHOUT_READINESS_HINTS();
  pair p;
  EXPECT_TRUE(drawbridge::net_types::may_have_input(p.ours));
  std::optional<boost::system::error_code> result;
  p.wait(result);
  p.ioc.poll();
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result);
}

TEST(readiness, a_drained_socket_waits_for_bytes_then_may_have_input_again) {
  SKIP_WITHOUT_READINESS_HINTS();
  pair p;
  std::optional<boost::system::error_code> result;
  p.park(result);
  EXPECT_FALSE(drawbridge::net_types::may_have_input(p.ours));
  p.run_until(result, 50ms);
  EXPECT_FALSE(result) << "the wait completed with nothing to read";

  net::write(p.peer, net::buffer("x", 1));
  p.run_until(result, 5s);
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result);
  EXPECT_TRUE(drawbridge::net_types::may_have_input(p.ours));
}

// Bytes that arrived after the empty read but before the wait started (nothing ran epoll in between)
// are reported all the same: edge-triggered epoll queued the report when they arrived.
TEST(readiness, bytes_that_came_between_the_empty_read_and_the_wait_are_not_missed) {
  pair p;
  p.read_until_empty();
  drawbridge::net_types::mark_drained(p.ours);
  net::write(p.peer, net::buffer("late", 4));
  ASSERT_TRUE(p.arrived());
  std::optional<boost::system::error_code> result;
  p.wait(result);
  p.run_until(result, 5s);
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result);
}

TEST(readiness, the_peer_closing_ends_the_wait_too) {
  pair p;
  std::optional<boost::system::error_code> result;
  p.park(result);
  p.peer.close();
  p.run_until(result, 5s);
  ASSERT_TRUE(result);
  char byte = 0;
  boost::system::error_code ec;
  p.ours.read_some(net::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, net::error::eof);
}

TEST(readiness, cancel_ends_a_queued_wait) {
  pair p;
  std::optional<boost::system::error_code> result;
  p.park(result);
  p.ioc.poll();
  ASSERT_FALSE(result);
  p.ours.cancel();
  p.run_until(result, 5s);
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, net::error::operation_aborted);
}

// A short read: what the peer sent is read, with room to spare. Waits for the bytes first (and the peer's
// close, with `and_close`), and lets the reactor see their report, as a read that follows epoll's report
// does.
namespace {
std::size_t short_read(pair& p, bool and_close = false) {
  EXPECT_TRUE(p.arrived(and_close));
  p.ioc.poll();
  char buffer[256];
  boost::system::error_code ec;
  const auto n = p.ours.read_some(net::buffer(buffer), ec);
  EXPECT_FALSE(ec);
  EXPECT_LT(n, sizeof buffer);
  return n;
}
}  // namespace

TEST(readiness, a_short_read_marks_a_watched_socket_empty_until_more_comes) {
  SKIP_WITHOUT_READINESS_HINTS();
  pair p;
  ASSERT_TRUE(drawbridge::net_types::watch_peer_close(p.ours));
  net::write(p.peer, net::buffer("abc", 3));
  EXPECT_EQ(short_read(p), 3u);
  drawbridge::net_types::note_short_read(p.ours);
  EXPECT_TRUE(drawbridge::net_types::known_empty(p.ours));
  EXPECT_FALSE(drawbridge::net_types::may_have_input(p.ours));

  net::write(p.peer, net::buffer("d", 1));
  wait_for([&] {
    p.ioc.poll();
    return !drawbridge::net_types::known_empty(p.ours);
  });
  EXPECT_FALSE(drawbridge::net_types::known_empty(p.ours));
}

// The peer's FIN came with its bytes: the read returns the bytes, and the end of stream only comes with
// the next read. Epoll's report said so (EPOLLRDHUP), so the socket is not taken for empty.
TEST(readiness, a_short_read_does_not_hide_a_close_that_came_with_the_bytes) {
  SKIP_WITHOUT_READINESS_HINTS();
  pair p;
  ASSERT_TRUE(drawbridge::net_types::watch_peer_close(p.ours));
  net::write(p.peer, net::buffer("abc", 3));
  p.peer.shutdown(tcp::socket::shutdown_send);
  EXPECT_EQ(short_read(p, /*and_close=*/true), 3u);
  drawbridge::net_types::note_short_read(p.ours);
  EXPECT_FALSE(drawbridge::net_types::known_empty(p.ours));
  EXPECT_TRUE(drawbridge::net_types::may_have_input(p.ours));
}

TEST(readiness, a_close_after_the_short_read_is_reported) {
  SKIP_WITHOUT_READINESS_HINTS();
  pair p;
  ASSERT_TRUE(drawbridge::net_types::watch_peer_close(p.ours));
  net::write(p.peer, net::buffer("abc", 3));
  short_read(p);
  drawbridge::net_types::note_short_read(p.ours);
  ASSERT_TRUE(drawbridge::net_types::known_empty(p.ours));
  p.peer.shutdown(tcp::socket::shutdown_send);
  wait_for([&] {
    p.ioc.poll();
    return !drawbridge::net_types::known_empty(p.ours);
  });
  EXPECT_FALSE(drawbridge::net_types::known_empty(p.ours));
}

// Without EPOLLRDHUP in epoll's reports, a short read cannot tell an empty socket from one whose peer has
// closed: nothing is marked.
TEST(readiness, a_short_read_does_not_mark_an_unwatched_socket) {
  pair p;
  net::write(p.peer, net::buffer("abc", 3));
  short_read(p);
  drawbridge::net_types::note_short_read(p.ours);
  EXPECT_FALSE(drawbridge::net_types::known_empty(p.ours));
  EXPECT_TRUE(drawbridge::net_types::may_have_input(p.ours));
}

// The close came before epoll was asked to report closes: asking makes epoll report it at once.
TEST(readiness, watching_after_the_peer_closed_reports_the_close) {
  SKIP_WITHOUT_READINESS_HINTS();
  pair p;
  net::write(p.peer, net::buffer("abc", 3));
  p.peer.shutdown(tcp::socket::shutdown_send);
  short_read(p, /*and_close=*/true);
  ASSERT_TRUE(drawbridge::net_types::watch_peer_close(p.ours));
  EXPECT_TRUE(drawbridge::net_types::watch_peer_close(p.ours));  // once is enough; again changes nothing
  p.ioc.poll();  // the close is there already: asking queued its report at once
  drawbridge::net_types::note_short_read(p.ours);
  EXPECT_FALSE(drawbridge::net_types::known_empty(p.ours));
}

// Asio's own registration changes (adding EPOLLOUT for a write that had to wait) keep the watch.
TEST(readiness, the_watch_survives_a_write_that_had_to_wait) {
  SKIP_WITHOUT_READINESS_HINTS();
  pair p;
  ASSERT_TRUE(drawbridge::net_types::watch_peer_close(p.ours));
  // Fill the send buffer so that an async write has to wait for epoll.
  const std::string chunk(64 * 1024, 'x');
  boost::system::error_code ec;
  while (!ec) p.ours.write_some(net::buffer(chunk), ec);
  ASSERT_EQ(ec, net::error::would_block);
  bool written = false;
  net::async_write(p.ours, net::buffer(chunk), [&](const boost::system::error_code&, std::size_t) { written = true; });
  p.ioc.poll();
  // Drain the peer so the write completes.
  p.peer.non_blocking(true);
  std::vector<char> sink(256 * 1024);
  wait_for(
      [&] {
        p.peer.read_some(net::buffer(sink), ec);
        p.ioc.poll();
        return written;
      },
      5s, 1ms);
  ASSERT_TRUE(written);
  ec = {};
  while (!ec) p.peer.read_some(net::buffer(sink), ec);  // the rest of what was written
  // Still watched in our books: a short read marks the socket empty...
  net::write(p.peer, net::buffer("abc", 3));
  short_read(p);
  drawbridge::net_types::note_short_read(p.ours);
  EXPECT_TRUE(drawbridge::net_types::known_empty(p.ours));
  // ...and in epoll's: a close that comes with bytes is reported as such.
  net::write(p.peer, net::buffer("def", 3));
  p.peer.shutdown(tcp::socket::shutdown_send);
  short_read(p, /*and_close=*/true);
  drawbridge::net_types::note_short_read(p.ours);
  EXPECT_FALSE(drawbridge::net_types::known_empty(p.ours)) << "the close was not reported as such";
}
