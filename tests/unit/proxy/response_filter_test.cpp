// The response filter list (proxy/response_filter.hpp) and gzip as its first entry (proxy/gzip_filter.hpp),
// sans-IO: heads and bodies in, heads and bytes out.

#include "proxy/response_filter.hpp"

#include <gtest/gtest.h>

#include <string>

#include "proxy/gzip_encoder.hpp"
#include "proxy/gzip_filter.hpp"

using namespace drawbridge;
using namespace drawbridge::proxy;
namespace http = boost::beast::http;

namespace {

// Adds a header, and (when `body`) appends its tag to every piece of body it is given.
class tagging_filter final : public response_filter {
 public:
  tagging_filter(std::string tag, bool body) : tag_(std::move(tag)), body_(body) {}
  bool start(const response_facts&, http::response_header<>& head) override {
    std::string seen(head["X-Filters"]);
    seen += tag_;
    head.set("X-Filters", seen);
    return body_;
  }
  void transform(std::string_view in, filter_flush flush, std::string& out) override {
    out.append(in).append(tag_);
    if (flush == filter_flush::finish) out.append("$");
  }

 private:
  std::string tag_;
  bool body_;
};

http::response_header<> json_head() {
  http::response_header<> head;
  head.result(http::status::ok);
  head.set(http::field::content_type, "application/json");
  return head;
}

}  // namespace

TEST(response_filters, every_filter_sees_the_head_in_order_and_only_body_filters_see_the_body) {
  tagging_filter first("a", true), head_only("b", false), last("c", true);
  response_filters filters;
  ASSERT_TRUE(filters.add(first));
  ASSERT_TRUE(filters.add(head_only));
  ASSERT_TRUE(filters.add(last));
  auto head = json_head();
  filters.start({}, head);
  EXPECT_EQ(head["X-Filters"], "abc");
  ASSERT_TRUE(filters.rewrites_body());
  std::string out = "kept:";
  filters.transform("x", filter_flush::none, out);
  filters.transform("y", filter_flush::finish, out);
  EXPECT_EQ(out, "kept:xacya$c$");  // a then c, each given what the previous one made
}

TEST(response_filters, a_list_without_body_filters_leaves_the_body_alone) {
  tagging_filter head_only("b", false);
  response_filters filters;
  filters.add(head_only);
  auto head = json_head();
  filters.start({}, head);
  EXPECT_FALSE(filters.rewrites_body());
  EXPECT_FALSE(filters.whole_body());
}

TEST(response_filters, the_list_is_bounded) {
  tagging_filter f("a", false);
  response_filters filters;
  for (std::size_t i = 0; i < response_filters::capacity; ++i) EXPECT_TRUE(filters.add(f));
  EXPECT_FALSE(filters.add(f));
}

TEST(gzip_filter, a_disabled_filter_changes_nothing) {
  conf::gzip_config config;  // enabled = false
  gzip_filter gzip(config);
  auto head = json_head();
  EXPECT_FALSE(gzip.start({.accept_encoding = "gzip", .has_body = true, .length = 5000}, head));
  EXPECT_EQ(head.find(http::field::vary), head.end());
  EXPECT_FALSE(gzip.compressing());
}

TEST(gzip_filter, a_body_that_fits_is_compressed_whole_and_the_head_says_so) {
  conf::gzip_config config;
  config.enabled = true;
  gzip_filter gzip(config);
  const std::string body(5000, 'j');
  auto head = json_head();
  head.set(http::field::content_length, std::to_string(body.size()));
  ASSERT_TRUE(
      gzip.start({.accept_encoding = "gzip", .has_body = true, .length = body.size(), .whole_body_room = 16384}, head));
  EXPECT_TRUE(gzip.wants_whole_body());
  EXPECT_EQ(head[http::field::content_encoding], "gzip");
  EXPECT_EQ(head.find(http::field::content_length), head.end());
  EXPECT_NE(std::string(head[http::field::vary]).find("Accept-Encoding"), std::string::npos);
  std::string out, back;
  gzip.transform(body, filter_flush::finish, out);
  ASSERT_TRUE(gzip_decompress(out, back));
  EXPECT_EQ(back, body);
}

TEST(gzip_filter, a_longer_body_streams_and_a_sync_flush_makes_what_came_so_far_decodable) {
  conf::gzip_config config;
  config.enabled = true;
  gzip_filter gzip(config);
  auto head = json_head();
  ASSERT_TRUE(gzip.start({.accept_encoding = "gzip", .has_body = true, .whole_body_room = 16384}, head));
  EXPECT_FALSE(gzip.wants_whole_body());
  std::string out;
  gzip.transform("{\"first\":1}", filter_flush::sync, out);
  EXPECT_FALSE(out.empty());  // flushed, not held back
  gzip.transform("{\"second\":2}", filter_flush::finish, out);
  std::string back;
  ASSERT_TRUE(gzip_decompress(out, back));
  EXPECT_EQ(back, "{\"first\":1}{\"second\":2}");
}

TEST(gzip_filter, a_client_that_does_not_accept_gzip_gets_the_body_as_is_but_the_vary) {
  conf::gzip_config config;
  config.enabled = true;
  gzip_filter gzip(config);
  auto head = json_head();
  EXPECT_FALSE(gzip.start({.accept_encoding = "identity", .has_body = true, .length = 5000}, head));
  EXPECT_EQ(head.find(http::field::content_encoding), head.end());
  EXPECT_NE(std::string(head[http::field::vary]).find("Accept-Encoding"), std::string::npos);
}
