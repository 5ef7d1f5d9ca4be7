#include "net/readiness.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <optional>
#include <thread>

namespace net = boost::asio;
using stream_socket = drawbridge::net_types::socket;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

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
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!result && std::chrono::steady_clock::now() < until) {
      ioc.poll();
      std::this_thread::sleep_for(1ms);
    }
  }
};

}  // namespace

TEST(readiness, a_new_socket_may_have_input_and_its_wait_completes_at_once) {
  pair p;
  EXPECT_TRUE(drawbridge::net_types::may_have_input(p.ours));
  std::optional<boost::system::error_code> result;
  p.wait(result);
  p.ioc.poll();
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result);
}

TEST(readiness, a_drained_socket_waits_for_bytes_then_may_have_input_again) {
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
  std::this_thread::sleep_for(20ms);
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
