// WebSocket through the proxy: the upgrade is forwarded as one, the node's 101 opens a tunnel that carries
// frames both ways, counts in flight on its node, and ends when a side closes or nothing moves for
// tunnel_idle. A refused upgrade is an ordinary response. A drain's deadline and the end of the shutdown
// grace close tunnels with a 1001 close frame, never inside one of the node's frames.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>

#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_certs.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/websocket_nodes.hpp"

using namespace drawbridge;
using namespace drawbridge::testing;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

// Connects (over TLS too, with app.test as the server name) and makes the WebSocket handshake.
template <typename Stream>
void open_websocket(websocket::stream<Stream>& ws, std::uint16_t port) {
  beast::get_lowest_layer(ws).connect({net::ip::make_address("127.0.0.1"), port});
  if constexpr (!std::is_same_v<Stream, tcp::socket>) {
    SSL_set_tlsext_host_name(ws.next_layer().native_handle(), "app.test");
    ws.next_layer().handshake(net::ssl::stream_base::client);
  }
  ws.handshake("app.test", "/rts/socket");
}

// The index of the one node with an open tunnel (-1 when none or more than one).
int tunnel_node_now(const proxy_under_test& proxy) {
  int found = -1;
  const auto& nodes = *proxy.rt().upstreams[0]->nodes();
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i]->tunnels.load() == 1) found = found == -1 ? static_cast<int>(i) : -2;
  return found < 0 ? -1 : found;
}

// The same, once there is one: the tunnel opens just after the client has the 101.
int node_with_tunnel(const proxy_under_test& proxy) {
  wait_for([&] { return tunnel_node_now(proxy) >= 0; });
  return tunnel_node_now(proxy);
}

// Reads until the connection ends; returns the error and leaves the close reason in `ws`.
template <typename Stream>
boost::system::error_code read_until_end(websocket::stream<Stream>& ws, std::string* last_message = nullptr) {
  for (;;) {
    beast::flat_buffer message;
    boost::system::error_code ec;
    ws.read(message, ec);
    if (ec) return ec;
    if (last_message) *last_message = beast::buffers_to_string(message.data());
  }
}

std::future<http_response> drain_async(std::uint16_t admin_port, const std::string& node, const std::string& wait) {
  return std::async(std::launch::async, [=] {
    test_client admin(admin_port);
    return admin.request(beast::http::verb::post, "/v1/upstreams/app/nodes/" + node + "/drain?wait=" + wait, {});
  });
}

}  // namespace

TEST(websocket, messages_cross_the_tunnel_both_ways_and_it_counts_in_flight_until_closed) {
  echo_node node;
  proxy_under_test proxy(admin_test_config({node.port()}, false));
  net::io_context ioc;
  websocket::stream<tcp::socket> ws(ioc);
  open_websocket(ws, proxy.port());
  // The node counts the upgrade just after writing its 101, which may reach the client first.
  EXPECT_TRUE(wait_for([&] { return node.upgrades() == 1; }));
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
  open_websocket(ws, proxy.port());
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
                                  {{"Connection", "Upgrade"},
                                   {"Upgrade", "websocket"},
                                   {"Sec-WebSocket-Version", "13"},
                                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
  EXPECT_EQ(res.status, 426u);
  EXPECT_EQ(res.body, "no");
}

TEST(websocket, the_tunnel_works_over_https_too) {
  test_ca ca;
  const auto cert = ca.issue("site", "app.test", {"app.test"});
  echo_node node;
  auto config = admin_test_config({node.port()}, false);
  use_tls(config, {cert});
  proxy_under_test proxy(config);
  net::io_context ioc;
  net::ssl::context ctx(net::ssl::context::tls_client);
  websocket::stream<beast::ssl_stream<tcp::socket>> ws(ioc, ctx);
  open_websocket(ws, proxy.port());
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

TEST(websocket, a_drain_lets_tunnels_run_until_its_deadline_then_closes_them_with_going_away) {
  echo_node first, second;
  proxy_under_test proxy(admin_test_config({first.port(), second.port()}, false));
  net::io_context ioc;
  websocket::stream<tcp::socket> ws(ioc);
  open_websocket(ws, proxy.port());
  const int used = node_with_tunnel(proxy);
  ASSERT_GE(used, 0);
  auto drained = drain_async(proxy.admin_port(), proxy.node(used).name(), "600ms");
  ASSERT_TRUE(wait_for([&] { return proxy.node(used).admin.load() == upstream::admin_state::draining; }));
  // Before the deadline the tunnel carries on.
  ws.write(net::buffer(std::string("still there")));
  beast::flat_buffer echo;
  ws.read(echo);
  EXPECT_EQ(beast::buffers_to_string(echo.data()), "still there");
  // At the deadline: a close frame, 1001, with drawbridge's reason.
  EXPECT_EQ(read_until_end(ws), websocket::error::closed);
  EXPECT_EQ(ws.reason().code, websocket::close_code::going_away);
  EXPECT_EQ(std::string(ws.reason().reason.c_str()), "drawbridge: node drained");
  // The node was held only by the tunnel, so the drain ends drained rather than timed out.
  const auto res = drained.get();
  EXPECT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(nlohmann::json::parse(res.body)["state"], "drained");
  EXPECT_EQ(proxy.node(used).in_flight.load(), 0);
  // The client reconnects, through drawbridge, to the other node.
  websocket::stream<tcp::socket> again(ioc);
  open_websocket(again, proxy.port());
  EXPECT_EQ(node_with_tunnel(proxy), 1 - used);
  again.write(net::buffer(std::string("elsewhere")));
  beast::flat_buffer echo2;
  again.read(echo2);
  EXPECT_EQ(beast::buffers_to_string(echo2.data()), "elsewhere");
  again.close(websocket::close_code::normal);
}

TEST(websocket, the_close_frame_waits_for_the_end_of_the_frame_the_node_is_sending) {
  std::atomic<bool> deadline_passed{false};
  half_frame_node slow([&] { return deadline_passed.load(); }, /*hold_forever=*/false);
  echo_node other;
  proxy_under_test proxy(admin_test_config({slow.port(), other.port()}, false));
  net::io_context ioc;
  websocket::stream<tcp::socket> ws(ioc);
  open_websocket(ws, proxy.port());
  ASSERT_EQ(node_with_tunnel(proxy), 0);  // round robin starts with the first node
  auto drained = drain_async(proxy.admin_port(), "node1", "200ms");
  // The node sends the rest of its frame only after the drawbridge was told to close the tunnel.
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).tunnel_close_epoch.load() != 0; }));
  // Once the worker has ticked since, it has seen the epoch and the tunnel is going away.
  ASSERT_TRUE(proxy.wait_for_ticks());
  deadline_passed = true;
  std::string message;
  EXPECT_EQ(read_until_end(ws, &message), websocket::error::closed);
  EXPECT_EQ(message, std::string(1000, 'f'));  // the whole frame came first, then the close frame
  EXPECT_EQ(ws.reason().code, websocket::close_code::going_away);
  EXPECT_EQ(drained.get().status, 200u);
}

TEST(websocket, a_node_stalled_inside_a_frame_is_cut_without_a_close_frame_after_the_close_limit) {
  half_frame_node stalled([] { return false; }, /*hold_forever=*/true);
  echo_node other;
  proxy_under_test proxy(admin_test_config({stalled.port(), other.port()}, false));
  net::io_context ioc;
  websocket::stream<tcp::socket> ws(ioc);
  open_websocket(ws, proxy.port());
  ASSERT_EQ(node_with_tunnel(proxy), 0);
  const auto started = std::chrono::steady_clock::now();
  auto drained = drain_async(proxy.admin_port(), "node1", "100ms");
  const auto ec = read_until_end(ws);
  EXPECT_TRUE(ec);
  EXPECT_NE(ec, websocket::error::closed);  // no close frame could go out without splitting the node's frame
  EXPECT_EQ(drained.get().status, 200u);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, upstream::tunnel_close_limit);
  EXPECT_LT(took, upstream::tunnel_close_limit + 3s);
}

TEST(websocket, a_tunnel_over_https_goes_away_with_a_close_frame_too) {
  test_ca ca;
  const auto cert = ca.issue("site", "app.test", {"app.test"});
  echo_node first, second;
  auto config = admin_test_config({first.port(), second.port()}, false);
  use_tls(config, {cert});
  proxy_under_test proxy(config);
  net::io_context ioc;
  net::ssl::context ctx(net::ssl::context::tls_client);
  websocket::stream<beast::ssl_stream<tcp::socket>> ws(ioc, ctx);
  open_websocket(ws, proxy.port());
  const int used = node_with_tunnel(proxy);
  ASSERT_GE(used, 0);
  auto drained = drain_async(proxy.admin_port(), proxy.node(used).name(), "100ms");
  EXPECT_EQ(read_until_end(ws), websocket::error::closed);
  EXPECT_EQ(ws.reason().code, websocket::close_code::going_away);
  EXPECT_EQ(drained.get().status, 200u);
}

TEST(websocket, the_end_of_the_shutdown_grace_closes_tunnels_with_going_away) {
  echo_node node;
  auto config = admin_test_config({node.port()}, false);
  config.timeouts.shutdown_grace = 300ms;
  proxy_under_test proxy(config);
  net::io_context ioc;
  websocket::stream<tcp::socket> ws(ioc);
  open_websocket(ws, proxy.port());
  const auto started = std::chrono::steady_clock::now();
  proxy.stop();
  EXPECT_EQ(read_until_end(ws), websocket::error::closed);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);  // the grace was given in full
  EXPECT_EQ(ws.reason().code, websocket::close_code::going_away);
  EXPECT_EQ(std::string(ws.reason().reason.c_str()), "drawbridge: shutting down");
  proxy.wait();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}
