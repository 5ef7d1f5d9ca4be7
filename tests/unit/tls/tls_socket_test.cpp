#include "tls/tls_socket.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "net/readiness.hpp"
#include "tests/support/readiness_hints.hpp"
#include "tests/support/test_certs.hpp"
#include "tests/support/tls_client.hpp"
#include "tests/support/wait.hpp"
#include "tls/server_contexts.hpp"

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace drawbridge;

namespace {

// A TLS connection from a test client, accepted and handshaken here. The server's stream is made by
// moving one, as the session's is (the BIO must follow it). `send_buffer`: SO_SNDBUF for the accepted
// socket, 0 for the default.
struct accepted_tls {
  drawbridge::testing::test_ca ca;
  std::shared_ptr<const tls::server_contexts> contexts;
  net::io_context ioc;
  std::unique_ptr<drawbridge::testing::tls_client> client;
  std::optional<tls::tls_socket> server;

  explicit accepted_tls(int send_buffer = 0) {
    const auto files = ca.issue("server", "a.test", {"a.test"});
    conf::listener_tls_config config;
    config.certificates.push_back({files.cert, files.key});
    std::string error;
    contexts = tls::server_contexts::build(config, error);
    EXPECT_TRUE(contexts) << error;
    if (!contexts) return;
    net_types::acceptor acceptor(ioc.get_executor(), tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    const auto port = acceptor.local_endpoint().port();
    std::thread client_thread([&] { client = std::make_unique<drawbridge::testing::tls_client>(port); });
    auto accepted = acceptor.accept();
    if (send_buffer > 0) accepted.set_option(net::socket_base::send_buffer_size(send_buffer));
    tls::tls_socket first(std::move(accepted), contexts->default_context().native_handle());
    server.emplace(std::move(first));
    server->async_handshake(net::ssl::stream_base::server,
                            [&](const boost::system::error_code& ec) { handshake = ec; });
    ioc.run();
    client_thread.join();
  }

  // The handshake completed on both sides.
  bool ready() const { return handshake && !*handshake && client && client->connected(); }
  std::string why() const {
    if (!handshake) return "no handshake result";
    if (*handshake) return handshake->message();
    return client ? client->error() : "no client";
  }

  std::optional<boost::system::error_code> handshake;
};

}  // namespace

// An idle TLS connection reads as "nothing yet" (would_block: the session parks it), and "OpenSSL must
// write first" has a code of its own (in_progress): asio's try_again, used for it before, is EAGAIN on
// Linux like would_block, and the session took every idle TLS connection for one that must write first
// (it then waited holding a read buffer instead of parking).
TEST(tls_socket, read_some_now_on_an_idle_connection_is_would_block) {
  accepted_tls tls;
  ASSERT_TRUE(tls.ready()) << tls.why();
  auto& server = *tls.server;

  char buffer[512];
  boost::system::error_code ec;
  EXPECT_EQ(server.read_some_now(net::buffer(buffer), ec), 0u);
  EXPECT_EQ(ec, net::error::would_block) << ec.message();
  EXPECT_NE(ec, net::error::in_progress);  // what the session would take for "must write first"
}

// The session's stream is made by moving one (the BIO must follow it to its new address); it reads and
// writes at once when it can, and a read that empties the socket marks it known empty, as a plain read
// does (net/readiness.hpp), so that the session parks it without another read.
TEST(tls_socket, a_moved_stream_reads_and_writes_at_once) {
  SKIP_WITHOUT_READINESS_HINTS();  // it checks that the last read marks the socket known empty
  accepted_tls tls;
  ASSERT_TRUE(tls.ready()) << tls.why();
  auto& server = *tls.server;
  auto& client = tls.client;
  auto& ioc = tls.ioc;
  ASSERT_TRUE(net_types::watch_peer_close(server.lowest_layer()));

  drawbridge::testing::http_response response;
  std::thread request_thread([&] { response = client->get("/x"); });
  std::string request;
  char buffer[4096];
  // Reads a piece at a time; a read that finds nothing says would_block, and the reactor runs before the next.
  boost::system::error_code nothing_read = net::error::would_block;
  drawbridge::testing::wait_for(
      [&] {
        boost::system::error_code ec;
        // One read at a time: the read that takes the request's last bytes must be the last one made.
        if (const auto n = server.read_some_now(net::buffer(buffer), ec); n > 0) {
          request.append(buffer, n);
          return request.find("\r\n\r\n") != std::string::npos;
        }
        nothing_read = ec;
        if (ec != net::error::would_block) return true;
        ioc.restart();
        ioc.poll();
        return false;
      },
      std::chrono::seconds(5), std::chrono::milliseconds(1));
  ASSERT_EQ(nothing_read, net::error::would_block) << nothing_read.message();
  ASSERT_NE(request.find("GET /x HTTP/1.1\r\n"), std::string::npos) << request;
  EXPECT_FALSE(SSL_has_pending(server.native_handle()));
  EXPECT_TRUE(net_types::known_empty(server.lowest_layer()));

  const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  boost::system::error_code ec;
  EXPECT_EQ(server.write_some_now(net::buffer(answer), ec), answer.size());
  EXPECT_FALSE(ec) << ec.message();
  request_thread.join();
  EXPECT_EQ(response.status, 200u) << response.error;
  EXPECT_EQ(response.body, "ok");
}

// A write that cannot finish at once (the socket is full) leaves part of it inside OpenSSL; it is finished
// by async_write_some of the same bytes, and the client gets them all, in order.
TEST(tls_socket, a_write_that_could_not_finish_at_once_is_finished_with_the_same_bytes) {
  accepted_tls tls(4096);  // a send buffer that fills after a few records
  ASSERT_TRUE(tls.ready()) << tls.why();
  auto& server = *tls.server;
  auto& client = tls.client;
  auto& ioc = tls.ioc;

  drawbridge::testing::http_response response;
  std::thread request_thread([&] { response = client->get("/big"); });
  std::string request;
  char buffer[4096];
  drawbridge::testing::wait_for(
      [&] {
        boost::system::error_code ec;
        if (const auto n = server.read_some_now(net::buffer(buffer), ec); n > 0) request.append(buffer, n);
        return request.find("\r\n\r\n") != std::string::npos;
      },
      std::chrono::seconds(5), std::chrono::milliseconds(1));
  ASSERT_NE(request.find("GET /big HTTP/1.1\r\n"), std::string::npos) << request;

  std::string body(1024 * 1024, ' ');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
  const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  boost::system::error_code ec;
  const auto now = server.write_some_now(net::buffer(answer), ec);
  ASSERT_EQ(now, 0u) << "1 MiB went out at once into a 4 KiB send buffer";
  ASSERT_EQ(ec, net::error::would_block) << ec.message();
  std::optional<std::pair<boost::system::error_code, std::size_t>> finished;
  server.async_write_some(net::buffer(answer),
                          [&](const boost::system::error_code& e, std::size_t n) { finished.emplace(e, n); });
  ioc.restart();
  ioc.run_for(std::chrono::seconds(10));
  request_thread.join();
  ASSERT_TRUE(finished);
  EXPECT_FALSE(finished->first) << finished->first.message();
  EXPECT_EQ(finished->second, answer.size());
  EXPECT_EQ(response.status, 200u) << response.error;
  EXPECT_TRUE(response.body == body) << "the body arrived altered (" << response.body.size() << " bytes)";
}
