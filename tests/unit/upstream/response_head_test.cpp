#include "upstream/response_head.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "net/readiness.hpp"
#include "tests/support/readiness_hints.hpp"
#include "tests/support/socket_state.hpp"
#include "tests/support/wait.hpp"

using namespace drawbridge::upstream;
namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using drawbridge::testing::peer_closed;
using drawbridge::testing::readable;
using drawbridge::testing::wait_for;

namespace {

// A plain node connection (watched for the node's close, as the exchange sets it up) and the node's end.
struct node_link {
  net::io_context ioc;
  upstream_connection connection{ioc.get_executor()};
  tcp::socket node{ioc};

  node_link() {
    tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    connection.socket.connect(acceptor.local_endpoint());
    node = acceptor.accept();
    EXPECT_EQ(drawbridge::net_types::watch_peer_close(connection.socket), drawbridge::net_types::readiness_hints);
    connection.buffer.reserve(16 * 1024);
  }

  // Runs read_response_head to its end (or 5 s) while `node_side` plays the node.
  template <typename NodeSide>
  boost::system::error_code read(response_parser& parser, NodeSide node_side) {
    std::optional<boost::system::error_code> result;
    net::co_spawn(ioc, read_response_head(connection, parser),
                  [&](const std::exception_ptr&, boost::system::error_code ec) { result = ec; });
    ioc.poll();
    node_side();
    wait_for(
        [&] {
          ioc.poll();
          return result.has_value();
        },
        5s, 1ms);
    EXPECT_TRUE(result) << "the read did not end";
    return result.value_or(net::error::timed_out);
  }

  // Waits until what the node sent (and its close, with `and_close`) has reached the connection.
  bool arrived(bool and_close = false) {
    const int fd = connection.socket.native_handle();
    return wait_for([&] { return readable(fd) && (!and_close || peer_closed(fd)); });
  }

  std::string left_in_buffer() const {
    const auto data = connection.buffer.data();
    return {static_cast<const char*>(data.data()), data.size()};
  }
};

}  // namespace

TEST(response_head, a_header_in_pieces_is_read_and_the_body_stays_in_the_buffer) {
  node_link link;
  response_parser parser;
  const auto ec = link.read(parser, [&] {
    net::write(link.node, net::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Le")));
    EXPECT_TRUE(link.arrived());
    link.ioc.poll();  // the read takes the first piece, and waits for more
    net::write(link.node, net::buffer(std::string("ngth: 5\r\nX-A: b\r\n\r\nhel")));
  });
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_header_done());
  EXPECT_EQ(parser.get().result_int(), 200u);
  EXPECT_EQ(parser.get()["X-A"], "b");
  EXPECT_EQ(link.left_in_buffer(), "hel");
}

// The last read took everything there was: the pool can reuse the connection without peeking at it.
TEST(response_head, a_response_that_empties_the_socket_leaves_it_known_empty) {
  SKIP_WITHOUT_READINESS_HINTS();
  node_link link;
  response_parser parser;
  const auto ec =
      link.read(parser, [&] { net::write(link.node, net::buffer(std::string("HTTP/1.1 204 No Content\r\n\r\n"))); });
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(drawbridge::net_types::known_empty(link.connection.socket));
}

// A node that closes right after its answer, without saying so: its FIN came with the answer's bytes, and
// the connection must not pass for an empty open one (the pool peeks, and sees the close).
TEST(response_head, a_close_that_came_with_the_response_is_not_taken_for_empty) {
  node_link link;
  response_parser parser;
  const auto ec = link.read(parser, [&] {
    net::write(link.node, net::buffer(std::string("HTTP/1.1 204 No Content\r\n\r\n")));
    link.node.shutdown(tcp::socket::shutdown_send);
    EXPECT_TRUE(link.arrived(/*and_close=*/true));
  });
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_FALSE(drawbridge::net_types::known_empty(link.connection.socket));
  EXPECT_FALSE(still_open(link.connection, /*trust_epoll=*/true));
}

TEST(response_head, a_close_before_any_byte_is_end_of_stream) {
  node_link link;
  response_parser parser;
  const auto ec = link.read(parser, [&] { link.node.close(); });
  EXPECT_EQ(ec, http::error::end_of_stream);
}

TEST(response_head, a_close_mid_header_is_a_partial_message) {
  node_link link;
  response_parser parser;
  const auto ec = link.read(parser, [&] {
    net::write(link.node, net::buffer(std::string("HTTP/1.1 200 OK\r\nContent-")));
    link.node.close();
  });
  EXPECT_EQ(ec, http::error::partial_message);
}

TEST(response_head, garbage_is_the_parsers_error) {
  node_link link;
  response_parser parser;
  const auto ec =
      link.read(parser, [&] { net::write(link.node, net::buffer(std::string("SSH-2.0-OpenSSH\r\n\r\n"))); });
  EXPECT_TRUE(ec);
  EXPECT_NE(ec, http::error::end_of_stream);
  EXPECT_NE(ec, http::error::partial_message);
}

TEST(response_head, a_reset_is_reported) {
  node_link link;
  response_parser parser;
  const auto ec = link.read(parser, [&] {
    link.node.set_option(net::socket_base::linger(true, 0));
    link.node.close();
  });
  EXPECT_EQ(ec, net::error::connection_reset);
}

TEST(response_head, a_header_larger_than_the_limit_is_refused) {
  node_link link;
  response_parser parser;
  parser.header_limit(1024);
  const auto ec = link.read(parser, [&] {
    net::write(link.node, net::buffer("HTTP/1.1 200 OK\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n"));
  });
  EXPECT_EQ(ec, http::error::header_limit);
}

// Cancelling the socket (what the exchange's deadline does) ends a read that is waiting for the node.
TEST(response_head, a_cancelled_wait_ends_the_read) {
  node_link link;
  response_parser parser;
  const auto ec = link.read(parser, [&] { link.connection.socket.cancel(); });
  EXPECT_EQ(ec, net::error::operation_aborted);
}
