#include "tests/support/websocket_nodes.hpp"

#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <string>

#include "tests/support/wait.hpp"

namespace drawbridge::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

echo_node::echo_node(bool refuse) : refuse_(refuse), server_([this](tcp::socket& socket) { serve(socket); }) {}

void echo_node::serve(tcp::socket& socket) {
  beast::flat_buffer buffer;
  http::request<http::string_body> req;
  boost::system::error_code ec;
  http::read(socket, buffer, req, ec);
  if (ec) return;
  if (refuse_ || !websocket::is_upgrade(req)) {
    http::response<http::string_body> res{http::status::upgrade_required, 11};
    res.body() = "no";
    res.prepare_payload();
    http::write(socket, res, ec);
    return;
  }
  websocket::stream<tcp::socket&> ws(socket);
  ws.accept(req, ec);
  if (ec) return;
  ++upgrades_;
  for (;;) {
    beast::flat_buffer message;
    ws.read(message, ec);
    if (ec) return;
    ws.text(ws.got_text());
    ws.write(message.data(), ec);
    if (ec) return;
  }
}

half_frame_node::half_frame_node(std::function<bool()> release, bool hold_forever)
    : release_(std::move(release)),
      hold_forever_(hold_forever),
      server_([this](tcp::socket& socket) { serve(socket); }) {}

void half_frame_node::serve(tcp::socket& socket) {
  boost::system::error_code ec;
  websocket::stream<tcp::socket&> ws(socket);
  ws.accept(ec);
  if (ec) return;
  std::string frame = "\x82\x7e";  // FIN, binary; a 16-bit length follows
  frame += static_cast<char>(1000 >> 8);
  frame += static_cast<char>(1000 & 0xff);
  frame += std::string(1000, 'f');
  // Written as raw bytes, to be cut where the test wants.
  net::write(socket, net::buffer(frame.data(), 4 + 500), ec);
  if (!hold_forever_) {
    wait_for(release_, std::chrono::seconds(10));
    net::write(socket, net::buffer(frame.data() + 504, 500), ec);
  }
  char sink[4096];
  while (!ec) socket.read_some(net::buffer(sink), ec);  // until the proxy closes its side
}

}  // namespace drawbridge::testing
