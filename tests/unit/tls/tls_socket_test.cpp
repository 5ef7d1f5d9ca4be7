#include "tls/tls_socket.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <optional>
#include <thread>

#include "tests/support/test_certs.hpp"
#include "tests/support/tls_client.hpp"
#include "tls/server_contexts.hpp"

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace drawbridge;

// An idle TLS connection reads as "nothing yet" (would_block: the session parks it), and "OpenSSL must
// write first" has a code of its own (in_progress): asio's try_again, used for it before, is EAGAIN on
// Linux like would_block, and the session took every idle TLS connection for one that must write first
// (it then waited holding a read buffer instead of parking).
TEST(tls_socket, read_some_now_on_an_idle_connection_is_would_block) {
  drawbridge::testing::test_ca ca;
  const auto files = ca.issue("server", "a.test", {"a.test"});
  conf::listener_tls_config config;
  config.certificates.push_back({files.cert, files.key});
  std::string error;
  const auto contexts = tls::server_contexts::build(config, error);
  ASSERT_TRUE(contexts) << error;

  net::io_context ioc;
  net_types::acceptor acceptor(ioc.get_executor(), tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  const auto port = acceptor.local_endpoint().port();
  std::unique_ptr<drawbridge::testing::tls_client> client;
  std::thread client_thread([&] { client = std::make_unique<drawbridge::testing::tls_client>(port); });
  tls::tls_socket server(acceptor.accept(), contexts->default_context().native_handle());
  std::optional<boost::system::error_code> handshake;
  server.async_handshake(net::ssl::stream_base::server, [&](const boost::system::error_code& ec) { handshake = ec; });
  ioc.run();
  client_thread.join();
  ASSERT_TRUE(handshake);
  ASSERT_FALSE(*handshake) << handshake->message();
  ASSERT_TRUE(client->connected()) << client->error();

  char buffer[512];
  boost::system::error_code ec;
  EXPECT_EQ(server.read_some_now(net::buffer(buffer), ec), 0u);
  EXPECT_EQ(ec, net::error::would_block) << ec.message();
  EXPECT_NE(ec, net::error::in_progress);  // what the session would take for "must write first"
}
