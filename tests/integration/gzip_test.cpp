// The gzip filter end to end: a node's JSON, sized or chunked, reaches a gzip client compressed and
// decompresses to what the node sent; every rule that says "leave it" leaves it; Vary is always right.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <future>
#include <string>

#include "proxy/gzip_encoder.hpp"
#include "tests/support/fake_node.hpp"
#include "tests/support/fake_server.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_certs.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/tls_client.hpp"

using namespace drawbridge;
using namespace drawbridge::testing;
namespace http = boost::beast::http;

namespace {

conf::config gzip_config(std::uint16_t node_port) {
  auto config = test_config({node_port});
  config.gzip.enabled = true;
  config.gzip.zstd_level.reset();  // gzip alone: zstd and br have their own tests (encodings_test.cpp)
  config.gzip.br_level.reset();
  return config;
}

const std::vector<std::pair<std::string, std::string>> accepts = {{"Accept-Encoding", "br, gzip;q=0.8"}};

// The response arrived gzipped, framed for HTTP/1.1, and holds `size` bytes of the node's 'x' pattern.
void expect_gzipped(const http_response& res, std::size_t size) {
  ASSERT_EQ(res.status, 200u) << res.error;
  EXPECT_EQ(res.headers[http::field::content_encoding], "gzip");
  EXPECT_EQ(res.headers[http::field::vary], "Accept-Encoding");
  EXPECT_EQ(res.headers.count(http::field::content_length), 0u);
  EXPECT_EQ(res.headers[http::field::transfer_encoding], "chunked");
  EXPECT_LT(res.body.size(), size / 10);
  std::string plain;
  ASSERT_TRUE(proxy::gzip_decompress(res.body, plain));
  EXPECT_EQ(plain, std::string(size, 'x'));
}

}  // namespace

TEST(gzip, sized_and_chunked_json_from_a_node_arrive_compressed_on_one_kept_alive_connection) {
  fake_node node({"n"});
  proxy_under_test proxy(gzip_config(node.port()));
  test_client client(proxy.port());
  expect_gzipped(client.request(http::verb::get, "/data?bytes=200000", {}, accepts), 200000);
  expect_gzipped(client.request(http::verb::get, "/data?bytes=150000&chunked=1", {}, accepts), 150000);
  const auto res = client.request(http::verb::get, "/data?bytes=5000", {}, accepts);  // the same connection
  expect_gzipped(res, 5000);
  EXPECT_TRUE(res.keep_alive);
}

TEST(gzip, each_rule_that_says_no_leaves_the_response_alone) {
  fake_node node({"n"});
  proxy_under_test proxy(gzip_config(node.port()));
  test_client client(proxy.port());
  struct case_ {
    const char* target;
    std::vector<std::pair<std::string, std::string>> headers;
    const char* vary;  // expected Vary
  };
  const std::vector<case_> cases = {
      {"/d?bytes=5000", {}, "Accept-Encoding"},                                    // no Accept-Encoding
      {"/d?bytes=5000", {{"Accept-Encoding", "gzip;q=0, *"}}, "Accept-Encoding"},  // refused
      {"/d?bytes=5000", {{"Accept-Encoding", "identity"}}, "Accept-Encoding"},
      {"/d?bytes=999", accepts, "Accept-Encoding"},                         // below min_length
      {"/d?bytes=5000&h_content-encoding=br", accepts, "Accept-Encoding"},  // already encoded
      {"/d?bytes=5000&h_cache-control=public%2C%20no-transform", accepts, "Accept-Encoding"},
      {"/d?bytes=5000&status=206&h_content-range=bytes%200-4999/9000", accepts, "Accept-Encoding"},
      {"/d?bytes=5000&h_content-type=image/png", accepts, ""},  // not a listed type
  };
  for (const auto& c : cases) {
    const auto res = client.request(http::verb::get, c.target, {}, c.headers);
    ASSERT_GE(res.status, 200u) << c.target << ": " << res.error;
    EXPECT_EQ(
        res.headers.count(http::field::content_encoding) ? std::string(res.headers[http::field::content_encoding]) : "",
        std::string(c.target).find("h_content-encoding=br") != std::string::npos ? "br" : "")
        << c.target;
    EXPECT_EQ(res.headers[http::field::vary], c.vary) << c.target;
    EXPECT_EQ(res.body.find_first_not_of('x'), std::string::npos) << c.target;  // passed through as sent
  }
  const auto head = client.request(http::verb::head, "/d?bytes=5000", {}, accepts);
  EXPECT_EQ(head.status, 200u);
  EXPECT_EQ(head.headers.count(http::field::content_encoding), 0u);
  EXPECT_EQ(head.headers[http::field::content_length], "5000");
}

TEST(gzip, a_strong_etag_turns_weak_and_an_existing_vary_is_merged) {
  fake_node node({"n"});
  proxy_under_test proxy(gzip_config(node.port()));
  test_client client(proxy.port());
  const auto res = client.request(http::verb::get, "/d?bytes=5000&h_etag=%22v1%22&h_vary=Origin", {}, accepts);
  ASSERT_EQ(res.status, 200u) << res.error;
  EXPECT_EQ(res.headers[http::field::content_encoding], "gzip");
  EXPECT_EQ(res.headers[http::field::etag], "W/\"v1\"");
  EXPECT_EQ(res.headers[http::field::vary], "Origin, Accept-Encoding");
}

TEST(gzip, an_http_1_0_client_gets_the_compressed_body_delimited_by_the_close) {
  fake_node node({"n"});
  proxy_under_test proxy(gzip_config(node.port()));
  for (const std::size_t size : {30000u, 300000u}) {  // compressed whole, and streamed
    SCOPED_TRACE(size);
    const auto raw = raw_exchange(
        proxy.port(), "GET /d?bytes=" + std::to_string(size) + " HTTP/1.0\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
    ASSERT_FALSE(raw.timed_out);
    EXPECT_EQ(first_status(raw.received), 200u);
    const auto end = raw.received.find("\r\n\r\n");
    ASSERT_NE(end, std::string::npos);
    const auto head = raw.received.substr(0, end);
    EXPECT_NE(head.find("Content-Encoding: gzip"), std::string::npos) << head;
    EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos) << head;
    EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
    std::string plain;
    ASSERT_TRUE(proxy::gzip_decompress(raw.received.substr(end + 4), plain));
    EXPECT_EQ(plain, std::string(size, 'x'));
  }
}

TEST(gzip, https_responses_are_compressed_too) {
  test_ca ca;
  const auto cert = ca.issue("site", "a.test", {"a.test"});
  fake_node node({"n"});
  auto config = gzip_config(node.port());
  use_tls(config, {cert});
  proxy_under_test proxy(config);
  tls_client client(proxy.port(), {.sni = "a.test"});
  ASSERT_TRUE(client.connected()) << client.error();
  expect_gzipped(client.request(http::verb::get, "/d?bytes=300000", accepts), 300000);
  expect_gzipped(client.request(http::verb::get, "/d?bytes=300000&chunked=1", accepts), 300000);
}

// A node that sends part of its body and then pauses (a long poll, server-sent events): what it sent
// reaches the client compressed and decodable before the node goes on.
TEST(gzip, what_a_pausing_node_sent_is_flushed_to_the_client_before_the_rest) {
  namespace net = boost::asio;
  std::promise<void> client_saw_first;
  auto go_on = client_saw_first.get_future();
  fake_server node([&](net::ip::tcp::socket& s) {
    boost::beast::flat_buffer buffer;
    http::request<http::empty_body> req;
    boost::system::error_code ec;
    http::read(s, buffer, req, ec);
    if (ec) return;
    const std::string first = "{\"event\":\"first\"}\n";
    const std::string second = "{\"event\":\"second\"}\n";
    auto chunk = [](const std::string& data) {
      char size[16];
      std::snprintf(size, sizeof size, "%zx\r\n", data.size());
      return std::string(size) + data + "\r\n";
    };
    net::write(s,
               net::buffer("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                           chunk(first)),
               ec);
    go_on.wait_for(std::chrono::seconds(5));  // held until the client has the first event (or gives up)
    net::write(s, net::buffer(chunk(second) + "0\r\n\r\n"), ec);
  });

  proxy_under_test proxy(gzip_config(node.port()));
  net::io_context ioc;
  net::ip::tcp::socket client(ioc);
  client.connect({net::ip::make_address("127.0.0.1"), proxy.port()});
  timeval limit{5, 0};
  setsockopt(client.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  net::write(client, net::buffer(std::string("GET /events HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")));
  boost::beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  boost::system::error_code ec;
  http::read_header(client, buffer, parser, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(parser.get()[http::field::content_encoding], "gzip");
  std::string compressed, plain;
  // One read of the body into `compressed`; the error, if any (a full piece is none).
  auto read_piece = [&] {
    char piece[4096];
    parser.get().body().data = piece;
    parser.get().body().size = sizeof piece;
    http::read_some(client, buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    compressed.append(piece, sizeof piece - parser.get().body().size);
    return ec;
  };
  while (plain.find("first") == std::string::npos && !parser.is_done()) {
    ASSERT_FALSE(read_piece()) << ec.message();
    plain.clear();
    proxy::gzip_decompress(compressed, plain);  // the stream is not finished: only the output matters here
  }
  EXPECT_EQ(plain, "{\"event\":\"first\"}\n");
  EXPECT_FALSE(parser.is_done());  // the node has not sent the rest yet
  client_saw_first.set_value();
  while (!parser.is_done()) ASSERT_FALSE(read_piece()) << ec.message();
  plain.clear();
  ASSERT_TRUE(proxy::gzip_decompress(compressed, plain));
  EXPECT_EQ(plain, "{\"event\":\"first\"}\n{\"event\":\"second\"}\n");
}
