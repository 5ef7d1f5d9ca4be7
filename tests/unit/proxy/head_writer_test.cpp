#include "proxy/head_writer.hpp"

#include <gtest/gtest.h>

using namespace drawbridge::proxy;
namespace http = boost::beast::http;

TEST(head_writer, request_head_has_the_request_line_fields_and_blank_line) {
  http::request_header<> h;
  h.method(http::verb::post);
  h.target("/api/v1/x?y=1");
  h.version(11);
  h.set(http::field::host, "app");
  h.set("X-Appsmith-Version", "1.9");
  std::string out = "old";
  write_request_head(h, out);
  EXPECT_EQ(out, "POST /api/v1/x?y=1 HTTP/1.1\r\nHost: app\r\nX-Appsmith-Version: 1.9\r\n\r\n");
}

TEST(head_writer, unknown_methods_are_written_as_received) {
  http::request_header<> h;
  h.method_string("PURGE");
  h.target("/");
  h.version(11);
  std::string out;
  write_request_head(h, out);
  EXPECT_EQ(out, "PURGE / HTTP/1.1\r\n\r\n");
}

TEST(head_writer, response_head_keeps_the_nodes_reason_or_uses_the_standard_one) {
  http::response_header<> h;
  h.version(10);
  h.result(404);
  std::string out;
  write_response_head(h, out);
  EXPECT_EQ(out, "HTTP/1.0 404 Not Found\r\n\r\n");
  h.version(11);
  h.result(200);
  h.reason("Fine");
  h.set(http::field::set_cookie, "SESSION=abc");
  write_response_head(h, out);
  EXPECT_EQ(out, "HTTP/1.1 200 Fine\r\nSet-Cookie: SESSION=abc\r\n\r\n");
}

TEST(head_writer, framing_replaces_content_length_and_transfer_encoding) {
  http::fields f;
  f.set(http::field::content_length, "10");
  f.set(http::field::transfer_encoding, "gzip, chunked");
  set_framing(f, body_framing::length, 42);
  EXPECT_EQ(f[http::field::content_length], "42");
  EXPECT_EQ(f.count(http::field::transfer_encoding), 0u);
  set_framing(f, body_framing::chunked, 0);
  EXPECT_EQ(f.count(http::field::content_length), 0u);
  EXPECT_EQ(f[http::field::transfer_encoding], "chunked");
  set_framing(f, body_framing::until_close, 0);
  EXPECT_EQ(f.count(http::field::content_length) + f.count(http::field::transfer_encoding), 0u);
}

TEST(head_writer, no_content_and_interim_answers_lose_their_framing_fields) {
  for (const unsigned status : {204U, 100U, 101U, 103U}) {
    http::response_header<> h;
    h.result(status);
    h.insert(http::field::content_length, "5");
    h.insert(http::field::content_length, "5");
    h.insert(http::field::transfer_encoding, "chunked");
    tidy_header_only_framing(h, 5);
    EXPECT_EQ(h.count(http::field::content_length), 0u) << status;
    EXPECT_EQ(h.count(http::field::transfer_encoding), 0u) << status;
  }
}

TEST(head_writer, head_and_not_modified_answers_keep_one_content_length_in_plain_digits) {
  for (const unsigned status : {200U, 304U}) {
    http::response_header<> h;
    h.result(status);
    h.insert(http::field::content_length, "5, 5");  // a list the parser accepts when its values agree
    h.insert(http::field::etag, "\"x\"");
    h.insert(http::field::content_length, "5");
    h.insert(http::field::transfer_encoding, "gzip");
    tidy_header_only_framing(h, 5);
    EXPECT_EQ(h.count(http::field::content_length), 1u) << status;
    EXPECT_EQ(h[http::field::content_length], "5") << status;
    EXPECT_EQ(h.count(http::field::transfer_encoding), 0u) << status;
    EXPECT_EQ(h[http::field::etag], "\"x\"") << status;
  }
  http::response_header<> chunked_head;  // a HEAD answer that names chunked coding keeps it for HTTP/1.1
  chunked_head.insert(http::field::transfer_encoding, "chunked");
  tidy_header_only_framing(chunked_head, std::nullopt);
  EXPECT_EQ(chunked_head[http::field::transfer_encoding], "chunked");
  chunked_head.version(10);  // but not for HTTP/1.0 (RFC 9112 6.1)
  tidy_header_only_framing(chunked_head, std::nullopt);
  EXPECT_EQ(chunked_head.count(http::field::transfer_encoding), 0u);
}

TEST(head_writer, keep_alive_follows_the_version_defaults) {
  http::fields f;
  set_keep_alive(f, 11, true);
  EXPECT_EQ(f.count(http::field::connection), 0u);
  set_keep_alive(f, 11, false);
  EXPECT_EQ(f[http::field::connection], "close");
  set_keep_alive(f, 10, true);
  EXPECT_EQ(f[http::field::connection], "keep-alive");
  set_keep_alive(f, 10, false);
  EXPECT_EQ(f.count(http::field::connection), 0u);
}
