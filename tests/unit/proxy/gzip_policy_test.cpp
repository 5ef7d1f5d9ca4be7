// The rules that decide whether a response is compressed and with which coding, and the head changes of
// one that is.

#include "proxy/gzip_policy.hpp"

#include "proxy/field_text.hpp"

#include <gtest/gtest.h>

using namespace drawbridge;
using namespace drawbridge::proxy;
namespace http = boost::beast::http;

namespace {

conf::gzip_config enabled() {
  conf::gzip_config c;
  c.enabled = true;
  return c;
}

// Whether a config with gzip alone on would gzip for this Accept-Encoding.
bool accepts_gzip(std::string_view accept_encoding) {
  auto c = enabled();
  c.zstd_level.reset();
  c.br_level.reset();
  return choose_coding(c, accept_encoding) == content_coding::gzip;
}

http::response_header<> json_response(unsigned status = 200) {
  http::response_header<> r;
  r.result(status);
  r.set(http::field::content_type, "application/json; charset=utf-8");
  return r;
}

}  // namespace

TEST(gzip_policy, accept_encoding_gzip_star_and_q_values) {
  EXPECT_TRUE(accepts_gzip("gzip"));
  EXPECT_TRUE(accepts_gzip("deflate, gzip, br"));
  EXPECT_TRUE(accepts_gzip("GZIP;q=0.5"));
  EXPECT_TRUE(accepts_gzip("x-gzip"));
  EXPECT_TRUE(accepts_gzip("*"));
  EXPECT_TRUE(accepts_gzip("br;q=1.0, *;q=0.1"));
  EXPECT_TRUE(accepts_gzip("gzip ; q = 1"));
  EXPECT_FALSE(accepts_gzip(""));
  EXPECT_FALSE(accepts_gzip("identity"));
  EXPECT_FALSE(accepts_gzip("br, deflate"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0.000"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0, *"));  // an explicit refusal beats the wildcard
  EXPECT_FALSE(accepts_gzip("*;q=0"));
  EXPECT_TRUE(accepts_gzip("*;q=0, gzip"));
  EXPECT_FALSE(accepts_gzip("gzip;q=2"));  // malformed q: the element counts for nothing
  EXPECT_FALSE(accepts_gzip("gzip;q=0.0001"));
}

TEST(gzip_policy, the_highest_q_value_wins_and_ties_go_to_zstd_then_br_then_gzip) {
  const auto all = enabled();
  auto chosen = [&](std::string_view ae, const conf::gzip_config& c) {
    const auto coding = choose_coding(c, ae);
    return coding ? std::string(coding_token(*coding)) : std::string("none");
  };
  EXPECT_EQ(chosen("gzip, deflate, br, zstd", all), "zstd");  // what browsers send: a tie
  EXPECT_EQ(chosen("gzip, deflate, br", all), "br");
  EXPECT_EQ(chosen("gzip", all), "gzip");
  EXPECT_EQ(chosen("*", all), "zstd");
  EXPECT_EQ(chosen("br;q=1, zstd;q=0.5", all), "br");
  EXPECT_EQ(chosen("gzip;q=0.5, br;q=0.499", all), "gzip");  // thousandths count
  EXPECT_EQ(chosen("gzip;q=0.8, br;q=0.8", all), "br");
  EXPECT_EQ(chosen("zstd;q=0, *", all), "br");  // an explicit refusal beats the wildcard
  EXPECT_EQ(chosen("zstd;q=0, br;q=0, *;q=0.1", all), "gzip");
  EXPECT_EQ(chosen("ZSTD;Q=1.000, GZIP", all), "zstd");
  EXPECT_EQ(chosen("zstd;q=1.5, br;q=0.1", all), "br");  // a malformed q: the element counts for nothing
  EXPECT_EQ(chosen("identity", all), "none");
  EXPECT_EQ(chosen("", all), "none");
  EXPECT_EQ(chosen("deflate, compress", all), "none");
  EXPECT_EQ(chosen("identity;q=0", all), "none");  // RFC 9110 12.5.3 lets the server send identity anyway
  EXPECT_EQ(chosen("*;q=0", all), "none");
  EXPECT_EQ(chosen("x-gzip, br;q=0.9", all), "gzip");

  auto no_zstd = all;
  no_zstd.zstd_level.reset();
  EXPECT_EQ(chosen("gzip, br, zstd", no_zstd), "br");
  EXPECT_EQ(chosen("zstd", no_zstd), "none");
  auto no_gzip = all;
  no_gzip.gzip_level.reset();
  EXPECT_EQ(chosen("gzip", no_gzip), "none");
  EXPECT_EQ(coding_level(all, content_coding::zstd), 3);
  EXPECT_EQ(coding_level(all, content_coding::br), 4);
  EXPECT_EQ(coding_level(all, content_coding::gzip), 1);
}

TEST(gzip_policy, media_types_ignore_parameters_and_case) {
  EXPECT_EQ(media_type(" application/json ; charset=utf-8"), "application/json");
  EXPECT_EQ(media_type("text/css"), "text/css");
  const auto c = enabled();
  EXPECT_TRUE(gzip_types_match(c, "Application/JSON; charset=utf-8"));
  EXPECT_TRUE(gzip_types_match(c, "application/javascript"));
  EXPECT_FALSE(gzip_types_match(c, "image/png"));
  EXPECT_FALSE(gzip_types_match(c, ""));
  EXPECT_FALSE(gzip_types_match(c, "application/jsonx"));
}

TEST(gzip_policy, a_listed_type_to_a_gzip_client_is_compressed_and_varies) {
  const auto v = judge_gzip(enabled(), true, false, true, json_response(), std::nullopt);  // unknown length
  EXPECT_TRUE(v.compress);
  EXPECT_TRUE(v.vary);
  EXPECT_TRUE(judge_gzip(enabled(), true, false, true, json_response(), 1000).compress);  // at min_length
}

TEST(gzip_policy, each_condition_alone_leaves_the_response_as_it_is) {
  const auto c = enabled();
  EXPECT_FALSE(judge_gzip(c, false, false, true, json_response(), 5000).compress);  // client refuses
  EXPECT_FALSE(judge_gzip(c, true, true, true, json_response(), 5000).compress);    // HEAD
  EXPECT_FALSE(judge_gzip(c, true, false, false, json_response(), 5000).compress);  // no body
  EXPECT_FALSE(judge_gzip(c, true, false, true, json_response(), 999).compress);    // below min_length
  for (const unsigned status : {101u, 103u, 204u, 206u, 304u})
    EXPECT_FALSE(judge_gzip(c, true, false, true, json_response(status), 5000).compress) << status;
  auto encoded = json_response();
  encoded.set(http::field::content_encoding, "br");
  EXPECT_FALSE(judge_gzip(c, true, false, true, encoded, 5000).compress);  // never twice
  encoded.set(http::field::content_encoding, "identity");
  EXPECT_TRUE(judge_gzip(c, true, false, true, encoded, 5000).compress);
  auto no_transform = json_response();
  no_transform.set(http::field::cache_control, "public, No-Transform, max-age=60");
  EXPECT_FALSE(judge_gzip(c, true, false, true, no_transform, 5000).compress);
  auto png = json_response();
  png.set(http::field::content_type, "image/png");
  const auto v = judge_gzip(c, true, false, true, png, 5000);
  EXPECT_FALSE(v.compress);
  EXPECT_FALSE(v.vary);  // not a listed type: not our business
  auto disabled = c;
  disabled.enabled = false;
  EXPECT_FALSE(judge_gzip(disabled, true, false, true, json_response(), 5000).vary);
}

TEST(gzip_policy, a_listed_type_varies_even_when_not_compressed) {
  EXPECT_TRUE(judge_gzip(enabled(), false, false, true, json_response(), 5000).vary);
  EXPECT_TRUE(judge_gzip(enabled(), true, false, true, json_response(), 10).vary);
}

TEST(gzip_policy, marking_drops_length_and_ranges_and_weakens_a_strong_etag) {
  auto r = json_response();
  r.set(http::field::content_length, "5000");
  r.set(http::field::accept_ranges, "bytes");
  r.set(http::field::etag, "\"abc\"");
  mark_encoded(r, content_coding::gzip);
  EXPECT_EQ(r[http::field::content_encoding], "gzip");
  EXPECT_EQ(r.count(http::field::content_length), 0u);
  EXPECT_EQ(r.count(http::field::accept_ranges), 0u);
  EXPECT_EQ(r[http::field::etag], "W/\"abc\"");
  r.set(http::field::etag, "W/\"weak\"");
  mark_encoded(r, content_coding::gzip);
  EXPECT_EQ(r[http::field::etag], "W/\"weak\"");
}

TEST(gzip_policy, vary_is_added_or_merged_once) {
  auto r = json_response();
  add_vary_accept_encoding(r);
  EXPECT_EQ(r[http::field::vary], "Accept-Encoding");
  add_vary_accept_encoding(r);
  EXPECT_EQ(r[http::field::vary], "Accept-Encoding");
  auto cookie = json_response();
  cookie.insert(http::field::vary, "Cookie");
  cookie.insert(http::field::vary, "Origin");
  add_vary_accept_encoding(cookie);
  EXPECT_EQ(cookie.count(http::field::vary), 1u);
  EXPECT_EQ(cookie[http::field::vary], "Cookie, Origin, Accept-Encoding");
  auto star = json_response();
  star.set(http::field::vary, "*");
  add_vary_accept_encoding(star);
  EXPECT_EQ(star[http::field::vary], "*");
  auto lower = json_response();
  lower.set(http::field::vary, "origin, accept-encoding");
  add_vary_accept_encoding(lower);
  EXPECT_EQ(lower[http::field::vary], "origin, accept-encoding");
}
