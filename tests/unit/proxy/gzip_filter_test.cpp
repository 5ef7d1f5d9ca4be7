// The compression filter's choice per response: the coding the client prefers, and the cap on streamed
// zstd and br responses a worker holds at once (each keeps megabytes of encoder state while it lasts).

#include "proxy/gzip_filter.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

using namespace drawbridge;
using namespace drawbridge::proxy;
namespace http = boost::beast::http;

namespace {

conf::gzip_config enabled() {
  conf::gzip_config c;
  c.enabled = true;
  return c;
}

// A JSON response of unknown length: streamed, not encoded whole.
response_facts streamed(std::string_view accept_encoding) {
  return {.accept_encoding = accept_encoding, .has_body = true, .length = std::nullopt, .whole_body_room = 65536};
}

http::response_header<> json_head() {
  http::response_header<> h;
  h.result(200);
  h.set(http::field::content_type, "application/json");
  return h;
}

}  // namespace

TEST(gzip_filter, streamed_zstd_and_br_responses_beyond_the_cap_fall_back_to_gzip_or_to_none) {
  const auto config = enabled();
  std::vector<std::unique_ptr<gzip_filter>> held;
  for (int i = 0; i < gzip_filter::heavy_streams_per_worker; ++i) {
    auto f = std::make_unique<gzip_filter>(config);
    auto head = json_head();
    ASSERT_TRUE(f->start(streamed(i % 2 ? "br" : "gzip, br, zstd"), head));
    EXPECT_EQ(head[http::field::content_encoding], i % 2 ? "br" : "zstd");
    held.push_back(std::move(f));
  }
  // The cap is reached: the next streamed one takes gzip when the client accepts it...
  gzip_filter over(config);
  auto head = json_head();
  ASSERT_TRUE(over.start(streamed("gzip, br, zstd"), head));
  EXPECT_EQ(over.coding(), content_coding::gzip);
  EXPECT_EQ(head[http::field::content_encoding], "gzip");
  // ... goes out as it is when it does not (Vary still says the answer depends on Accept-Encoding) ...
  gzip_filter plain(config);
  auto plain_head = json_head();
  EXPECT_FALSE(plain.start(streamed("zstd"), plain_head));
  EXPECT_EQ(plain_head.count(http::field::content_encoding), 0u);
  EXPECT_EQ(plain_head[http::field::vary], "Accept-Encoding");
  // ... and a body small enough to be encoded whole (no state held) keeps the client's choice.
  gzip_filter whole(config);
  auto whole_head = json_head();
  ASSERT_TRUE(
      whole.start({.accept_encoding = "zstd", .has_body = true, .length = 5000, .whole_body_room = 65536}, whole_head));
  EXPECT_EQ(whole_head[http::field::content_encoding], "zstd");

  // One streamed response ends: the next one gets zstd again.
  held.pop_back();
  gzip_filter again(config);
  auto again_head = json_head();
  ASSERT_TRUE(again.start(streamed("zstd"), again_head));
  EXPECT_EQ(again_head[http::field::content_encoding], "zstd");
}
