// WebSocket through the proxy: the upgrade is forwarded as one, the node's 101 opens a tunnel that carries
// frames both ways, counts in flight on its node, and ends when a side closes or nothing moves for
// tunnel_idle. A refused upgrade is an ordinary response.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <string>
#include <thread>

#include "tests/integration/proxy_harness.hpp"
#include "tests/support/test_certs.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge;
using namespace drawbridge::testing;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

// A node that accepts WebSocket upgrades on one connection after another and echoes every message (or,
// with `refuse`, answers 426 to the upgrade).
class echo_node {
 public:
  explicit echo_node(bool refuse = false) : acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}), refuse_(refuse) {
    thread_ = std::thread([this] { serve(); });
  }
  ~echo_node() {
    // Closing the descriptor does not wake a thread blocked in accept(); shutting the socket down does.
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::atomic<int> upgrades{0};

 private:
  void serve() {
    for (;;) {
      tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec) return;
      beast::flat_buffer buffer;
      beast::http::request<beast::http::string_body> req;
      beast::http::read(socket, buffer, req, ec);
      if (ec) continue;
      if (refuse_ || !websocket::is_upgrade(req)) {
        beast::http::response<beast::http::string_body> res{beast::http::status::upgrade_required, 11};
        res.body() = "no";
        res.prepare_payload();
        beast::http::write(socket, res, ec);
        continue;
      }
      websocket::stream<tcp::socket> ws(std::move(socket));
      ws.accept(req, ec);
      if (ec) continue;
      ++upgrades;
      for (;;) {
        beast::flat_buffer message;
        ws.read(message, ec);
        if (ec) break;
        ws.text(ws.got_text());
        ws.write(message.data(), ec);
        if (ec) break;
      }
    }
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  bool refuse_;
  std::thread thread_;
};

}  // namespace

TEST(websocket, messages_cross_the_tunnel_both_ways_and_it_counts_in_flight_until_closed) {
  echo_node node;
  proxy_under_test proxy(admin_test_config({node.port()}, false));
  net::io_context ioc;
  websocket::stream<tcp::socket> ws(ioc);
  ws.next_layer().connect({net::ip::make_address("127.0.0.1"), proxy.port()});
  ws.handshake("app.test", "/rts/socket");
  EXPECT_EQ(node.upgrades, 1);
  for (const std::string& text : {std::string("hello"), std::string(200000, 'w'), std::string("third")}) {
    ws.write(net::buffer(text));
    beast::flat_buffer echo;
    ws.read(echo);
    EXPECT_EQ(beast::buffers_to_string(echo.data()), text);
  }
  EXPECT_EQ(proxy.node(0).in_flight.load(), 1);  // the open tunnel
  ws.close(websocket::close_code::normal);
  EXPECT_TRUE(wait_for([&] { return proxy.node(0).in_flight.load() == 0; }, 5s));
}

TEST(websocket, an_idle_tunnel_is_closed_after_tunnel_idle) {
  echo_node node;
  auto config = admin_test_config({node.port()}, false);
  config.timeouts.tunnel_idle = 300ms;
  proxy_under_test proxy(config);
  net::io_context ioc;
  websocket::stream<tcp::socket> ws(ioc);
  ws.next_layer().connect({net::ip::make_address("127.0.0.1"), proxy.port()});
  ws.handshake("app.test", "/rts/socket");
  beast::flat_buffer message;
  boost::system::error_code ec;
  ws.read(message, ec);  // nothing comes; the proxy ends the tunnel
  EXPECT_TRUE(ec);
  EXPECT_TRUE(wait_for([&] { return proxy.node(0).in_flight.load() == 0; }, 5s));
}

TEST(websocket, a_refused_upgrade_is_relayed_as_a_normal_response) {
  echo_node node(/*refuse=*/true);
  proxy_under_test proxy(admin_test_config({node.port()}, false));
  test_client client(proxy.port());
  const auto res = client.request(beast::http::verb::get, "/rts/socket", {},
                                  {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}, {"Sec-WebSocket-Version", "13"},
                                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
  EXPECT_EQ(res.status, 426u);
  EXPECT_EQ(res.body, "no");
}

TEST(websocket, the_tunnel_works_over_https_too) {
  test_ca ca;
  const auto cert = ca.issue("site", "app.test", {"app.test"});
  echo_node node;
  auto config = admin_test_config({node.port()}, false);
  conf::listener_tls_config tls;
  tls.certificates.push_back({cert.cert, cert.key});
  config.listeners[0].tls = tls;
  proxy_under_test proxy(config);
  net::io_context ioc;
  net::ssl::context ctx(net::ssl::context::tls_client);
  websocket::stream<beast::ssl_stream<tcp::socket>> ws(ioc, ctx);
  beast::get_lowest_layer(ws).connect({net::ip::make_address("127.0.0.1"), proxy.port()});
  SSL_set_tlsext_host_name(ws.next_layer().native_handle(), "app.test");
  ws.next_layer().handshake(net::ssl::stream_base::client);
  ws.handshake("app.test", "/rts/socket");
  for (const std::string& text : {std::string("over tls"), std::string(100000, 't')}) {
    ws.write(net::buffer(text));
    beast::flat_buffer echo;
    ws.read(echo);
    EXPECT_EQ(beast::buffers_to_string(echo.data()), text);
  }
  EXPECT_EQ(proxy.node(0).in_flight.load(), 1);
  ws.close(websocket::close_code::normal);
  EXPECT_TRUE(wait_for([&] { return proxy.node(0).in_flight.load() == 0; }, 5s));
}
