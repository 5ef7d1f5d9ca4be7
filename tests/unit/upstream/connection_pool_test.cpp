#include "upstream/connection_pool.hpp"

#include "net/readiness.hpp"
#include "tests/support/readiness_hints.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "tests/support/socket_state.hpp"
#include "tests/support/wait.hpp"

using namespace drawbridge::upstream;
using drawbridge::testing::peer_closed;
using drawbridge::testing::readable;
using drawbridge::testing::wait_for;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

// A loopback listener and connections to it; the accepted ends are kept so the test can close them, and
// the descriptors of the connecting ends (the pool's) so that it can wait for what reaches them.
struct loopback {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)};
  std::vector<tcp::socket> accepted;
  std::vector<int> connected;

  std::unique_ptr<upstream_connection> connect() {
    auto c = std::make_unique<upstream_connection>(ioc.get_executor());
    c->socket.connect(acceptor.local_endpoint());
    accepted.push_back(acceptor.accept());
    connected.push_back(c->socket.native_handle());
    return c;
  }

  // Waits until what the node's end `i` sent (bytes, or its close) has reached the pool's end.
  bool arrived(std::size_t i) {
    return wait_for([&] { return readable(connected[i]); });
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
  ASSERT_TRUE(wait_for([&] { return peer_closed(lo.connected[0]); }));
  pool.sweep(clock::now());
  EXPECT_EQ(pool.idle_count(0), 0u);
  EXPECT_EQ(pool.acquire(0, clock::now()), nullptr);
}

// After a response whose last read emptied the socket (read_response_head), a replayable request takes the
// connection on epoll's word, without a peek; any other request peeks.
namespace {
// A pooled connection watched for the node's close, whose last read (short) took all the node sent.
void release_known_empty(loopback& lo, connection_pool& pool) {
  auto c = lo.connect();
  ASSERT_TRUE(drawbridge::net_types::watch_peer_close(c->socket));
  net::write(lo.accepted.back(), net::buffer("answer", 6));
  ASSERT_TRUE(lo.arrived(lo.connected.size() - 1));
  lo.ioc.poll();
  char buffer[64];
  ASSERT_EQ(c->socket.read_some(net::buffer(buffer)), 6u);
  drawbridge::net_types::note_short_read(c->socket);
  ASSERT_TRUE(drawbridge::net_types::known_empty(c->socket));
  pool.release(0, std::move(c), clock::now());
}

// Once what the node's end `i` sent has arrived, runs the worker's loop (epoll included), as happens
// between two requests.
void run_epoll(loopback& lo, std::size_t i) {
  ASSERT_TRUE(lo.arrived(i));
  lo.ioc.poll();
}
}  // namespace

TEST(connection_pool, a_replayable_request_takes_a_connection_known_empty) {
  SKIP_WITHOUT_READINESS_HINTS();
  loopback lo;
  auto work = net::make_work_guard(lo.ioc);
  connection_pool pool(1, config(4));
  release_known_empty(lo, pool);
  lo.ioc.poll();  // nothing more was sent: the loop runs with nothing to report
  EXPECT_NE(pool.acquire(0, clock::now(), /*replayable=*/true), nullptr);
}

TEST(connection_pool, a_close_reported_by_epoll_is_seen_without_a_peek) {
  SKIP_WITHOUT_READINESS_HINTS();
  loopback lo;
  auto work = net::make_work_guard(lo.ioc);
  connection_pool pool(1, config(4));
  release_known_empty(lo, pool);
  lo.accepted[0].close();
  run_epoll(lo, 0);
  EXPECT_EQ(pool.acquire(0, clock::now(), /*replayable=*/true), nullptr);
}

TEST(connection_pool, stray_bytes_reported_by_epoll_are_seen_without_a_peek) {
  SKIP_WITHOUT_READINESS_HINTS();
  loopback lo;
  auto work = net::make_work_guard(lo.ioc);
  connection_pool pool(1, config(4));
  release_known_empty(lo, pool);
  net::write(lo.accepted[0], net::buffer("HTTP/1.1 408 Request Timeout\r\n\r\n"));
  run_epoll(lo, 0);
  EXPECT_EQ(pool.acquire(0, clock::now(), /*replayable=*/true), nullptr);
}

// What epoll has yet to report is not seen by a replayable request: no peek is made (the request would be
// sent again on a fresh connection if the node had closed). A request that cannot be replayed peeks.
TEST(connection_pool, only_a_request_that_cannot_be_replayed_peeks) {
  SKIP_WITHOUT_READINESS_HINTS();
  loopback lo;
  auto work = net::make_work_guard(lo.ioc);
  connection_pool pool(1, config(4));
  release_known_empty(lo, pool);
  net::write(lo.accepted[0], net::buffer("HTTP/1.1 408 Request Timeout\r\n\r\n"));
  ASSERT_TRUE(lo.arrived(0));  // arrived, but the loop has not run epoll since
  EXPECT_EQ(pool.acquire(0, clock::now(), /*replayable=*/false), nullptr);

  release_known_empty(lo, pool);
  net::write(lo.accepted[1], net::buffer("HTTP/1.1 408 Request Timeout\r\n\r\n"));
  ASSERT_TRUE(lo.arrived(1));
  EXPECT_NE(pool.acquire(0, clock::now(), /*replayable=*/true), nullptr);
}

TEST(connection_pool, a_connection_not_watched_is_peeked_at_even_for_a_replayable_request) {
  loopback lo;
  auto work = net::make_work_guard(lo.ioc);
  connection_pool pool(1, config(4));
  pool.release(0, lo.connect(), clock::now());
  pool.sweep(clock::now());  // its peek finds the socket empty and marks it drained
  net::write(lo.accepted[0], net::buffer("x", 1));
  ASSERT_TRUE(lo.arrived(0));
  EXPECT_EQ(pool.acquire(0, clock::now(), /*replayable=*/true), nullptr);
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
  ASSERT_TRUE(lo.arrived(0));
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
