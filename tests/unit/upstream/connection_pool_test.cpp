#include "upstream/connection_pool.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <thread>

using namespace drawbridge::upstream;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

// A loopback listener and connections to it; the accepted ends are kept so the test can close them.
struct loopback {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)};
  std::vector<tcp::socket> accepted;

  std::unique_ptr<upstream_connection> connect() {
    auto c = std::make_unique<upstream_connection>(ioc.get_executor());
    c->socket.connect(acceptor.local_endpoint());
    accepted.push_back(acceptor.accept());
    return c;
  }
};

drawbridge::conf::keepalive_config config(std::uint32_t max_idle, std::uint64_t max_requests = 100) {
  drawbridge::conf::keepalive_config k;
  k.max_idle_per_node = max_idle;
  k.idle_timeout = 60s;
  k.max_requests = max_requests;
  return k;
}

}  // namespace

TEST(connection_pool, released_connection_is_reused) {
  loopback lo;
  connection_pool pool(2, config(4));
  const auto now = clock::now();
  EXPECT_EQ(pool.acquire(0, now), nullptr);
  auto c = lo.connect();
  auto* raw = c.get();
  pool.release(0, std::move(c), now);
  EXPECT_EQ(pool.idle_count(0), 1u);
  EXPECT_EQ(pool.acquire(1, now), nullptr);  // pools are per node
  EXPECT_EQ(pool.acquire(0, now).get(), raw);
}

TEST(connection_pool, connection_closed_by_the_node_is_evicted) {
  loopback lo;
  connection_pool pool(1, config(4));
  pool.release(0, lo.connect(), clock::now());
  lo.accepted[0].close();
  // The FIN needs a moment to arrive; the peek sees it then.
  std::unique_ptr<upstream_connection> got;
  for (int i = 0; i < 100 && pool.idle_count(0) > 0; ++i) {
    std::this_thread::sleep_for(5ms);
    pool.sweep(clock::now());
  }
  EXPECT_EQ(pool.idle_count(0), 0u);
  EXPECT_EQ(pool.acquire(0, clock::now()), nullptr);
}

// Once a peek has found a pooled connection empty, the pool trusts epoll instead of peeking again: what
// the node does later (a close, stray bytes) is seen once the worker's loop has run epoll.
namespace {
// A connection back in the pool, then a sweep whose peek finds it empty (and marks it drained).
void release_and_sweep(loopback& lo, connection_pool& pool) {
  pool.release(0, lo.connect(), clock::now());
  pool.sweep(clock::now());
  ASSERT_EQ(pool.idle_count(0), 1u);
}
}  // namespace

TEST(connection_pool, a_close_after_a_peek_is_seen_through_epoll) {
  loopback lo;
  auto work = net::make_work_guard(lo.ioc);
  connection_pool pool(1, config(4));
  release_and_sweep(lo, pool);
  lo.accepted[0].close();
  for (int i = 0; i < 200 && pool.idle_count(0) > 0; ++i) {
    std::this_thread::sleep_for(5ms);
    lo.ioc.poll();
    pool.sweep(clock::now());
  }
  EXPECT_EQ(pool.idle_count(0), 0u);
}

TEST(connection_pool, stray_bytes_after_a_peek_are_seen_through_epoll) {
  loopback lo;
  auto work = net::make_work_guard(lo.ioc);
  connection_pool pool(1, config(4));
  release_and_sweep(lo, pool);
  net::write(lo.accepted[0], net::buffer("HTTP/1.1 408 Request Timeout\r\n\r\n"));
  std::this_thread::sleep_for(20ms);
  lo.ioc.poll();
  EXPECT_EQ(pool.acquire(0, clock::now()), nullptr);
}

TEST(connection_pool, idle_timeout_expires_connections) {
  loopback lo;
  connection_pool pool(1, config(4));
  const auto now = clock::now();
  pool.release(0, lo.connect(), now);
  EXPECT_EQ(pool.acquire(0, now + 61s), nullptr);
  pool.release(0, lo.connect(), now);
  pool.sweep(now + 61s);
  EXPECT_EQ(pool.idle_count(0), 0u);
}

TEST(connection_pool, at_most_max_idle_per_node_are_kept) {
  loopback lo;
  connection_pool pool(1, config(2));
  const auto now = clock::now();
  for (int i = 0; i < 5; ++i) pool.release(0, lo.connect(), now);
  EXPECT_EQ(pool.idle_count(0), 2u);
}

TEST(connection_pool, connection_that_served_max_requests_is_closed) {
  loopback lo;
  connection_pool pool(1, config(4, /*max_requests=*/3));
  auto c = lo.connect();
  c->requests = 3;
  pool.release(0, std::move(c), clock::now());
  EXPECT_EQ(pool.idle_count(0), 0u);
}

TEST(connection_pool, unsolicited_bytes_make_a_connection_unusable) {
  loopback lo;
  connection_pool pool(1, config(4));
  pool.release(0, lo.connect(), clock::now());
  net::write(lo.accepted[0], net::buffer(std::string("HTTP/1.1 408 Request Timeout\r\n\r\n")));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(pool.acquire(0, clock::now()), nullptr);
}

TEST(connection_pool, close_node_drops_only_that_nodes_connections) {
  loopback lo;
  connection_pool pool(2, config(4));
  pool.release(0, lo.connect(), clock::now());
  pool.release(1, lo.connect(), clock::now());
  pool.close_node(0);
  EXPECT_EQ(pool.idle_count(0), 0u);
  EXPECT_EQ(pool.idle_count(1), 1u);
}
