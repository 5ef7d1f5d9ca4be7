// What the client sees when nodes fail: the next node, or 502/503/504, and never a replayed POST.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include "proxy/request_id.hpp"
#include "tests/support/fake_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge::testing;
namespace http = boost::beast::http;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {
// A port that refuses connections: a node that was started and stopped.
std::uint16_t dead_port() {
  fake_node gone({"gone"});
  const auto port = gone.port();
  gone.stop();
  return port;
}
}  // namespace

TEST(failures, node_down_means_the_next_node_answers) {
  fake_node alive({"alive"});
  proxy_under_test proxy({dead_port(), alive.port()});
  test_client client(proxy.port());
  for (int i = 0; i < 6; ++i) {
    const auto res = client.get("/x");
    ASSERT_EQ(res.status, 200u) << res.error;
    EXPECT_EQ(json::parse(res.body)["node"], "alive");
  }
  EXPECT_GE(proxy.rt().upstreams[0]->nodes()->at(0)->connect_failures_total.load(), 1u);
}

TEST(failures, failed_connect_moves_even_a_post_to_the_next_node) {
  fake_node alive({"alive"});
  proxy_under_test proxy({dead_port(), alive.port()});
  test_client client(proxy.port());
  for (int i = 0; i < 4; ++i) {
    const auto res = client.request(http::verb::post, "/upload", "payload");
    ASSERT_EQ(res.status, 200u) << res.error;
    EXPECT_EQ(json::parse(res.body)["bytes"], 7);
  }
}

TEST(failures, every_node_down_answers_503) {
  // Down as the health checks see it: no node is eligible, so none is tried.
  proxy_under_test proxy(admin_test_config({dead_port(), dead_port()}));
  test_client client(proxy.port());
  const auto res = client.get("/x");
  EXPECT_EQ(res.status, 503u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "no_node_available");
  EXPECT_TRUE(drawbridge::proxy::is_valid_uuid(std::string(res.headers["X-Request-Id"])));
}

// Tried and refused: a different code from "no node was eligible", so that an operator can tell a node
// that is down from one the proxy chose not to use.
TEST(failures, every_connect_failing_answers_503_connect_failed) {
  proxy_under_test proxy({dead_port(), dead_port()});
  test_client client(proxy.port());
  const auto res = client.get("/x");
  EXPECT_EQ(res.status, 503u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "connect_failed");
  EXPECT_TRUE(drawbridge::proxy::is_valid_uuid(std::string(res.headers["X-Request-Id"])));
}

TEST(failures, slow_node_answers_504_after_the_read_timeout) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.timeouts.read = 300ms;
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  const auto res = client.get("/x?delay_ms=3000");
  EXPECT_EQ(res.status, 504u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "gateway_timeout");
}

TEST(failures, node_stalling_before_its_body_gets_504_before_anything_was_sent) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.timeouts.read = 300ms;
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  EXPECT_EQ(client.get("/x?bytes=100&stall_ms=3000").status, 504u);
}

TEST(failures, garbage_response_answers_502) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client client(proxy.port());
  const auto res = client.get("/x?garbage=1");
  EXPECT_EQ(res.status, 502u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "bad_gateway");
}

// Found by tests/fuzz/response.cpp: Beast reads any three digits as a status, and "099" was skipped like a
// 100 Continue, the exchange then waiting for a "final" response the node never meant to send.
TEST(failures, a_status_below_100_answers_502_at_once) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client client(proxy.port());
  const auto started = std::chrono::steady_clock::now();
  const auto res = client.get("/x?status=99&bytes=0");
  EXPECT_EQ(res.status, 502u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "bad_gateway");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));  // not the read timeout
}

TEST(failures, idempotent_request_moves_to_the_next_node_when_a_node_resets) {
  fake_node broken({"broken", "127.0.0.1", 0, 0ms, fake_node_options::behaviour::reset});
  fake_node good({"good"});
  proxy_under_test proxy({broken.port(), good.port()});
  test_client client(proxy.port());
  for (int i = 0; i < 4; ++i) {
    const auto res = client.get("/x");
    ASSERT_EQ(res.status, 200u) << res.error;
    EXPECT_EQ(json::parse(res.body)["node"], "good");
  }
  EXPECT_GE(broken.requests(), 1u);
}

TEST(failures, post_that_reached_a_node_is_never_replayed) {
  fake_node broken({"broken", "127.0.0.1", 0, 0ms, fake_node_options::behaviour::reset});
  fake_node good({"good"});
  proxy_under_test proxy({broken.port(), good.port()});
  // Round robin starts with the broken node.
  test_client client(proxy.port());
  const auto res = client.request(http::verb::post, "/upload", "pay me once");
  EXPECT_EQ(res.status, 502u);
  EXPECT_EQ(broken.requests(), 1u);
  EXPECT_EQ(good.requests(), 0u);
}

TEST(failures, garbage_from_one_node_is_not_retried_elsewhere) {
  fake_node broken({"broken", "127.0.0.1", 0, 0ms, fake_node_options::behaviour::garbage});
  fake_node good({"good"});
  proxy_under_test proxy({broken.port(), good.port()});
  test_client client(proxy.port());
  EXPECT_EQ(client.get("/x").status, 502u);
  EXPECT_EQ(good.requests(), 0u);
}

TEST(failures, connect_timeout_moves_on_to_the_next_node) {
  // A node whose accept queue is full: Linux drops further SYNs, so a connect hangs until it times out.
  // (Backlog 0 admits one pending connection; two clients fill it.) Loopback only.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor stuck(ioc);
  const boost::asio::ip::tcp::endpoint at(boost::asio::ip::make_address("127.0.0.1"), 0);
  stuck.open(at.protocol());
  stuck.bind(at);
  stuck.listen(0);
  const auto stuck_port = stuck.local_endpoint().port();
  // Non-blocking connects from plain sockets: they fill the queue without waiting for an accept.
  std::vector<int> fillers;
  for (int i = 0; i < 3; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(stuck_port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // Non-blocking: it completes (or not) in the background; the backlog filling up is the point.
    ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);  // NOLINT(bugprone-unused-return-value)
    fillers.push_back(fd);
  }
  struct closer {
    std::vector<int>& fds;
    ~closer() {
      for (int fd : fds) ::close(fd);
    }
  } close_fillers{fillers};
  fake_node good({"good"});
  auto config = test_config({stuck_port, good.port()});
  config.timeouts.connect = 300ms;
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  const auto started = std::chrono::steady_clock::now();
  const auto res = client.get("/x");
  ASSERT_EQ(res.status, 200u) << res.error;
  EXPECT_EQ(json::parse(res.body)["node"], "good");
  EXPECT_GE(proxy.rt().upstreams[0]->nodes()->at(0)->connect_failures_total.load(), 1u)
      << "the first connect did not hang: the accept queue was not full";
  EXPECT_GE(std::chrono::steady_clock::now() - started, 250ms);
}
