// zstd and brotli beside gzip, end to end: the client's Accept-Encoding picks the coding (q-values, then
// zstd > br > gzip), each decodes to what the node sent whether the body was encoded whole or streamed,
// gzip.encodings turns codings off, and a body a node already encoded is never encoded again.

#include <gtest/gtest.h>

#include <boost/beast/http.hpp>
#include <string>

#include "proxy/body_encoder.hpp"
#include "tests/support/fake_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge;
using namespace drawbridge::testing;
namespace http = boost::beast::http;

namespace {

conf::config compressing(std::uint16_t node_port) {
  auto config = test_config({node_port});
  config.gzip.enabled = true;
  return config;
}

std::string content_encoding(const http_response& res) {
  return res.headers.count(http::field::content_encoding) ? std::string(res.headers[http::field::content_encoding])
                                                          : std::string();
}

// The response came encoded with `coding`, with Vary, and decodes to `size` bytes of the node's 'x'.
void expect_encoded(const http_response& res, proxy::content_coding coding, std::size_t size) {
  ASSERT_EQ(res.status, 200u) << res.error;
  ASSERT_EQ(content_encoding(res), proxy::coding_token(coding));
  EXPECT_EQ(res.headers[http::field::vary], "Accept-Encoding");
  EXPECT_EQ(res.headers.count(http::field::content_length), 0u);
  EXPECT_LT(res.body.size(), size / 10);
  std::string plain;
  ASSERT_TRUE(proxy::decode_whole(coding, res.body, plain));
  EXPECT_EQ(plain, std::string(size, 'x'));
}

}  // namespace

TEST(encodings, each_coding_round_trips_whole_and_streamed_sized_and_chunked) {
  fake_node node({"n"});
  proxy_under_test proxy(compressing(node.port()));
  test_client client(proxy.port());
  for (const auto coding : proxy::content_codings) {
    SCOPED_TRACE(std::string(proxy::coding_token(coding)));
    const std::vector<std::pair<std::string, std::string>> accept = {
        {"Accept-Encoding", std::string(proxy::coding_token(coding))}};
    expect_encoded(client.request(http::verb::get, "/d?bytes=5000", {}, accept), coding, 5000);      // whole
    expect_encoded(client.request(http::verb::get, "/d?bytes=300000", {}, accept), coding, 300000);  // streamed
    expect_encoded(client.request(http::verb::get, "/d?bytes=200000&chunked=1", {}, accept), coding, 200000);
  }
}

TEST(encodings, the_client_s_q_values_choose_and_ties_go_to_zstd_then_br) {
  fake_node node({"n"});
  proxy_under_test proxy(compressing(node.port()));
  test_client client(proxy.port());
  const std::pair<const char*, proxy::content_coding> cases[] = {
      {"gzip, deflate, br, zstd", proxy::content_coding::zstd},  // what a current browser sends
      {"gzip, deflate, br", proxy::content_coding::br},          {"br;q=1, zstd;q=0.1", proxy::content_coding::br},
      {"zstd;q=0, br;q=0.5, gzip", proxy::content_coding::gzip}, {"*", proxy::content_coding::zstd},
  };
  for (const auto& [accept, coding] : cases) {
    SCOPED_TRACE(accept);
    expect_encoded(client.request(http::verb::get, "/d?bytes=5000", {}, {{"Accept-Encoding", accept}}), coding, 5000);
  }
}

TEST(encodings, gzip_encodings_turns_codings_off) {
  fake_node node({"n"});
  auto config = compressing(node.port());
  config.gzip.zstd_level.reset();  // "encodings": {"br": 4, "gzip": 1}
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  expect_encoded(client.request(http::verb::get, "/d?bytes=5000", {}, {{"Accept-Encoding", "zstd, br, gzip"}}),
                 proxy::content_coding::br, 5000);
  const auto res = client.request(http::verb::get, "/d?bytes=5000", {}, {{"Accept-Encoding", "zstd"}});
  ASSERT_EQ(res.status, 200u) << res.error;
  EXPECT_EQ(content_encoding(res), "");  // the only coding it accepts is off
  EXPECT_EQ(res.headers[http::field::vary], "Accept-Encoding");
  EXPECT_EQ(res.body, std::string(5000, 'x'));
}

// Newer Appsmith nodes encode some answers themselves: those pass through byte for byte, whatever the
// client would have accepted from drawbridge.
TEST(encodings, a_body_the_node_encoded_is_never_encoded_again) {
  fake_node node({"n"});
  proxy_under_test proxy(compressing(node.port()));
  test_client client(proxy.port());
  for (const char* node_coding : {"zstd", "br", "gzip"}) {
    SCOPED_TRACE(node_coding);
    const auto res = client.request(http::verb::get, std::string("/d?bytes=5000&h_content-encoding=") + node_coding, {},
                                    {{"Accept-Encoding", "gzip, deflate, br, zstd"}});
    ASSERT_EQ(res.status, 200u) << res.error;
    EXPECT_EQ(content_encoding(res), node_coding);
    EXPECT_EQ(res.body, std::string(5000, 'x'));  // the node's bytes, untouched
    EXPECT_EQ(res.headers[http::field::content_length], "5000");
  }
}
