// The shutdown every fake server in tests/support shares (fake_server.hpp): stop() wakes a connection's
// thread wherever it is blocked, the peer sees the close, and the port refuses connections afterwards.

#include "tests/support/fake_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <chrono>

#include "tests/support/wait.hpp"

namespace net = boost::asio;
using tcp = net::ip::tcp;
using drawbridge::testing::fake_server;
using drawbridge::testing::wait_for;
using namespace std::chrono_literals;

TEST(fake_server, stop_wakes_a_connection_blocked_in_a_read_and_the_port_then_refuses) {
  std::atomic<int> served{0};
  std::atomic<bool> woken{false};
  fake_server server([&](tcp::socket& socket) {
    ++served;
    char byte;
    boost::system::error_code ec;
    socket.read_some(net::buffer(&byte, 1), ec);  // the client never sends: only stop() ends this
    woken = true;
  });
  net::io_context ioc;
  tcp::socket client(ioc);
  client.connect({net::ip::make_address("127.0.0.1"), server.port()});
  ASSERT_TRUE(wait_for([&] { return served == 1; }));
  EXPECT_EQ(server.connections(), 1u);

  const auto started = std::chrono::steady_clock::now();
  server.stop();
  EXPECT_TRUE(woken);  // stop() returned, so the thread was joined, so the read was woken
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  char byte;
  boost::system::error_code ec;
  net::read(client, net::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, net::error::eof);  // the client saw the close

  tcp::socket late(ioc);
  late.connect({net::ip::make_address("127.0.0.1"), server.port()}, ec);
  EXPECT_EQ(ec, net::error::connection_refused);
  server.stop();  // again: nothing left to do
}

TEST(fake_server, connections_are_served_at_the_same_time) {
  std::atomic<int> inside{0};
  fake_server server([&](tcp::socket&) {
    ++inside;
    wait_for([&] { return inside == 2; }, 5s);  // served one after the other, the second would wait this out
  });
  net::io_context ioc;
  tcp::socket first(ioc), second(ioc);
  first.connect({net::ip::make_address("127.0.0.1"), server.port()});
  second.connect({net::ip::make_address("127.0.0.1"), server.port()});
  EXPECT_TRUE(wait_for([&] { return inside == 2; }, 2s));
}
