// The admin API's checks against browsers: who counts as a web page, which Host names the listener, which
// bodies count as JSON.

#include "admin/request_guard.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>

using namespace drawbridge::admin;
namespace http = boost::beast::http;
using boost::asio::ip::make_address;
using boost::asio::ip::tcp;

TEST(request_guard, an_origin_or_a_cross_site_fetch_marks_a_web_page) {
  http::fields curl;
  curl.set(http::field::host, "127.0.0.1:9901");
  curl.set(http::field::user_agent, "curl/7.88.1");
  EXPECT_FALSE(sent_by_a_web_page(curl));
  for (const char* origin : {"https://evil.example", "null", "http://127.0.0.1:9901"}) {
    auto f = curl;
    f.set(http::field::origin, origin);
    EXPECT_TRUE(sent_by_a_web_page(f)) << origin;
  }
  for (const char* site : {"cross-site", "same-site", "weird"}) {
    auto f = curl;
    f.set("Sec-Fetch-Site", site);
    EXPECT_TRUE(sent_by_a_web_page(f)) << site;
  }
  for (const char* site : {"none", "same-origin", "Same-Origin"}) {
    auto f = curl;
    f.set("Sec-Fetch-Site", site);
    EXPECT_FALSE(sent_by_a_web_page(f)) << site;
  }
}

TEST(request_guard, only_the_listeners_own_address_or_localhost_names_it) {
  const tcp::endpoint v4{make_address("127.0.0.1"), 9901};
  for (const char* host : {"127.0.0.1:9901", "localhost:9901", "LOCALHOST:9901", "localhost", " localhost:9901 "})
    EXPECT_TRUE(names_the_listener(host, v4)) << host;
  for (const char* host : {"", "127.0.0.1", "127.0.0.1:9902", "127.0.0.2:9901", "evil.example:9901", "localhost:80",
                           "localhost.evil.example:9901", "[::1]:9901", "127.0.0.1:09901x", "127.0.0.1:", ":9901",
                           "127.0.0.1:99999", "[127.0.0.1]:9901", "0x7f.1:9901"})
    EXPECT_FALSE(names_the_listener(host, v4)) << host;

  const tcp::endpoint v6{make_address("::1"), 9901};
  for (const char* host : {"[::1]:9901", "[0:0::1]:9901", "localhost:9901", "localhost"})
    EXPECT_TRUE(names_the_listener(host, v6)) << host;
  for (const char* host : {"::1:9901", "[::1]", "[::1]:9902", "127.0.0.1:9901", "[::1", "[::1]x9901"})
    EXPECT_FALSE(names_the_listener(host, v6)) << host;

  // Port 80 may go unsaid.
  EXPECT_TRUE(names_the_listener("127.0.0.1", tcp::endpoint{make_address("127.0.0.1"), 80}));
}

TEST(request_guard, json_bodies_are_application_json_with_any_parameters) {
  for (const char* type : {"application/json", "Application/JSON", "application/json; charset=utf-8",
                           "application/json;charset=UTF-8", " application/json "})
    EXPECT_TRUE(is_json_media_type(type)) << type;
  for (const char* type : {"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                           "application/jsonx", "application/json-patch+json", "application /json"})
    EXPECT_FALSE(is_json_media_type(type)) << type;
}
