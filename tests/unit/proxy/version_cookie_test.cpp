// The request side of version affinity (proxy/version_affinity.hpp): the version a request names, the
// cookie an HTML answer sets, which requests are static assets.

#include "proxy/version_affinity.hpp"

#include <gtest/gtest.h>

using namespace drawbridge;
using namespace drawbridge::proxy;
namespace http = boost::beast::http;

namespace {

http::fields with_cookies(std::initializer_list<const char*> lines) {
  http::fields f;
  for (const char* line : lines) f.insert(http::field::cookie, line);
  return f;
}

conf::version_affinity_config affinity() {
  conf::version_affinity_config c;
  c.enabled = true;
  return c;
}

http::response_header<> html_answer(const char* type = "text/html; charset=utf-8") {
  http::response_header<> head;
  head.result(200);
  head.set(http::field::content_type, type);
  head.insert(http::field::set_cookie, "SESSION=abc; Path=/");
  return head;
}

}  // namespace

TEST(version_cookie, the_cookie_is_found_among_others_in_any_cookie_line_and_unquoted) {
  EXPECT_EQ(cookie_value(with_cookies({"a=1; drawbridge_version=2.0; b=3"}), "drawbridge_version"), "2.0");
  EXPECT_EQ(cookie_value(with_cookies({"a=1", "drawbridge_version=\"1.9\""}), "drawbridge_version"), "1.9");
  EXPECT_EQ(cookie_value(with_cookies({"  drawbridge_version = 7 ;x=1"}), "drawbridge_version"), "7");
  // A longer or shorter name is another cookie; no cookie at all is empty.
  EXPECT_EQ(cookie_value(with_cookies({"xdrawbridge_version=1; drawbridge_versio=2"}), "drawbridge_version"), "");
  EXPECT_EQ(cookie_value(with_cookies({"junk;;=;drawbridge_version"}), "drawbridge_version"), "");
  EXPECT_EQ(cookie_value(http::fields{}, "drawbridge_version"), "");
}

TEST(version_cookie, the_header_names_the_version_ahead_of_the_cookie) {
  auto request = with_cookies({"drawbridge_version=1"});
  auto named = version_named_by(request, affinity());
  EXPECT_EQ(named.version, "1");
  EXPECT_EQ(named.cookie, "1");
  request.set("X-Appsmith-Version", "2");
  named = version_named_by(request, affinity());
  EXPECT_EQ(named.version, "2");
  EXPECT_EQ(named.cookie, "1");
}

TEST(version_cookie, an_html_answer_from_a_known_version_sets_it_beside_the_nodes_own_cookies) {
  const auto config = affinity();
  const std::string v2 = "2.0";
  auto head = html_answer();
  version_cookie_filter plain(&config, "", &v2, /*https=*/false);
  EXPECT_FALSE(plain.start({}, head));  // head only
  const auto cookies = head.equal_range(http::field::set_cookie);
  ASSERT_EQ(std::distance(cookies.first, cookies.second), 2);
  EXPECT_EQ(std::next(cookies.first)->value(), "drawbridge_version=2.0; Path=/; HttpOnly; SameSite=Lax");

  head = html_answer("TEXT/HTML");
  version_cookie_filter secure(&config, "1.0", &v2, /*https=*/true);  // a different cookie came in
  secure.start({}, head);
  EXPECT_EQ(std::next(head.equal_range(http::field::set_cookie).first)->value(),
            "drawbridge_version=2.0; Path=/; HttpOnly; SameSite=Lax; Secure");
}

TEST(version_cookie, no_cookie_when_it_is_already_right_the_version_unknown_the_answer_not_html_or_affinity_off) {
  const auto config = affinity();
  const std::string v2 = "2.0";
  auto count_set = [](version_cookie_filter f, http::response_header<> head) {
    f.start({}, head);
    return head.count(http::field::set_cookie);
  };
  EXPECT_EQ(count_set(version_cookie_filter(&config, "2.0", &v2, false), html_answer()), 1u);
  EXPECT_EQ(count_set(version_cookie_filter(&config, "", nullptr, false), html_answer()), 1u);
  EXPECT_EQ(count_set(version_cookie_filter(&config, "", &v2, false), html_answer("application/json")), 1u);
  EXPECT_EQ(count_set(version_cookie_filter(&config, "", &v2, false), html_answer("text/htm")), 1u);
  EXPECT_EQ(count_set(version_cookie_filter(nullptr, "", &v2, false), html_answer()), 1u);
}

TEST(version_cookie, static_assets_are_gets_under_static) {
  http::request_header<> r;
  r.method(http::verb::get);
  r.target("/static/js/main.abc.js");
  EXPECT_TRUE(is_static_asset(r));
  r.target("/static");
  EXPECT_FALSE(is_static_asset(r));
  r.target("/api/v1/static/x");
  EXPECT_FALSE(is_static_asset(r));
  r.target("/static/js/main.abc.js");
  r.method(http::verb::head);
  EXPECT_FALSE(is_static_asset(r));
}
