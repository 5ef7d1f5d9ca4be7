// The HTTP/1.1 sink (proxy/http1_sink.hpp) on a real loopback connection: what each call puts on the
// wire, byte for byte.

#include "proxy/http1_sink.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <optional>
#include <string>

#include "net/stream.hpp"

using namespace drawbridge;
using namespace drawbridge::proxy;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

struct connected_pair {
  net::io_context io;
  net_types::socket server{io.get_executor()};
  net_types::socket client{io.get_executor()};
  connected_pair() {
    net_types::acceptor acceptor(io.get_executor(), tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    client.connect(acceptor.local_endpoint());
    server = acceptor.accept();
  }
  // Everything the sink sent, once the server side is closed.
  std::string received() {
    boost::system::error_code ec;
    server.shutdown(tcp::socket::shutdown_send, ec);
    std::string all;
    net::read(client, net::dynamic_buffer(all), ec);
    return all;
  }
};

http::response_header<> head_of(unsigned status) {
  http::response_header<> head;
  head.result(status);
  head.version(11);
  return head;
}

// Runs `body` as a coroutine to completion on the pair's io_context.
template <typename F>
void run(connected_pair& pair, F body) {
  bool finished = false;
  net::co_spawn(
      pair.io,
      [&]() -> task<void> {
        co_await body();
        finished = true;
      },
      [](const std::exception_ptr& e) {
        if (e) std::rethrow_exception(e);
      });
  pair.io.run();
  ASSERT_TRUE(finished);
}

}  // namespace

TEST(http1_sink, the_head_leaves_with_the_first_body_bytes_and_chunks_end_with_the_last_chunk) {
  connected_pair pair;
  io_deadline deadline;
  std::string head_buffer, scratch;
  http1_sink<net_types::socket> sink(pair.server, deadline, 5s, head_buffer, scratch);
  auto head = head_of(200);
  head.set(http::field::transfer_encoding, "chunked");
  sink.write_head(head, body_framing::chunked);
  run(pair, [&]() -> task<void> {
    const auto first = co_await send_to(sink, net::buffer(std::string_view("hello")), false);
    const auto last = co_await send_to(sink, net::buffer(std::string_view("world!")), true);
    EXPECT_FALSE(first);
    EXPECT_FALSE(last);
  });
  EXPECT_EQ(pair.received(),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n");
}

TEST(http1_sink, a_header_only_answer_goes_out_on_finish) {
  connected_pair pair;
  io_deadline deadline;
  std::string head_buffer, scratch;
  http1_sink<net_types::socket> sink(pair.server, deadline, 5s, head_buffer, scratch);
  sink.write_head(head_of(204), body_framing::none);
  boost::system::error_code ec;
  EXPECT_TRUE(sink.finish({}, ec));  // a loopback socket takes it at once
  EXPECT_FALSE(ec);
  EXPECT_EQ(pair.received(), "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(http1_sink, a_length_framed_body_passes_raw) {
  connected_pair pair;
  io_deadline deadline;
  std::string head_buffer, scratch;
  http1_sink<net_types::socket> sink(pair.server, deadline, 5s, head_buffer, scratch);
  auto head = head_of(200);
  head.set(http::field::content_length, "3");
  sink.write_head(head, body_framing::length);
  const std::string body = "abc";
  const net::const_buffer piece = net::buffer(body);
  boost::system::error_code ec;
  EXPECT_TRUE(sink.finish({&piece, 1}, ec));
  EXPECT_EQ(pair.received(), "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
}

TEST(http1_sink, continue_is_an_interim_response_of_its_own) {
  connected_pair pair;
  io_deadline deadline;
  std::string head_buffer, scratch;
  http1_sink<net_types::socket> sink(pair.server, deadline, 5s, head_buffer, scratch);
  run(pair, [&]() -> task<void> {
    const auto ec = co_await sink.send_continue();
    EXPECT_FALSE(ec);
  });
  EXPECT_EQ(pair.received(), "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST(http1_sink, aborting_a_close_delimited_body_resets_the_connection) {
  connected_pair pair;
  io_deadline deadline;
  std::string head_buffer, scratch;
  http1_sink<net_types::socket> sink(pair.server, deadline, 5s, head_buffer, scratch);
  auto head = head_of(200);
  head.version(10);
  sink.write_head(head, body_framing::until_close);
  const std::string part = "partial";
  const net::const_buffer piece = net::buffer(part);
  boost::system::error_code ec;
  EXPECT_TRUE(sink.write_body({&piece, 1}, ec));
  sink.abort();
  pair.server.close();
  std::string got;
  net::read(pair.client, net::dynamic_buffer(got), ec);
  EXPECT_EQ(ec, net::error::connection_reset);  // not a clean end that would pass for the whole body
}

TEST(http1_sink, aborting_a_length_framed_body_leaves_the_close_clean) {
  connected_pair pair;
  io_deadline deadline;
  std::string head_buffer, scratch;
  http1_sink<net_types::socket> sink(pair.server, deadline, 5s, head_buffer, scratch);
  auto head = head_of(200);
  head.set(http::field::content_length, "100");
  sink.write_head(head, body_framing::length);
  boost::system::error_code ec;
  EXPECT_TRUE(sink.write_body({}, ec));
  sink.abort();
  pair.server.close();
  std::string got;
  net::read(pair.client, net::dynamic_buffer(got), ec);
  EXPECT_EQ(ec, net::error::eof);  // the missing bytes show the cut; what was sent arrives
  EXPECT_EQ(got, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
}
