#include "proxy/request_validator.hpp"

#include "proxy/field_text.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

using namespace drawbridge::proxy;
namespace http = boost::beast::http;

namespace {

// Scans and, if the raw bytes pass, parses with Beast and checks the fields: the session's order.
unsigned status_of(const std::string& raw) {
  const auto scan = scan_header(raw, 0);
  if (!scan.bad.ok()) return scan.bad.status;
  if (scan.end == 0) return 1;  // incomplete
  if (const auto v = check_version(raw.substr(0, scan.end)); !v.ok()) return v.status;
  http::request_parser<http::empty_body> parser;
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(raw.data(), scan.end), ec);
  if (ec) return 400;
  return check_request_header(parser.get()).status;
}

}  // namespace

TEST(scan_header, finds_the_end_of_a_complete_header) {
  const std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
  const auto scan = scan_header(raw, 0);
  EXPECT_TRUE(scan.bad.ok());
  EXPECT_EQ(scan.end, raw.size() - 4);
}

TEST(scan_header, resumes_where_it_stopped_across_reads) {
  const std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  const auto first = scan_header(raw.substr(0, 25), 0);  // ends inside the final CRLF CRLF
  EXPECT_EQ(first.end, 0u);
  const auto second = scan_header(raw, first.scanned);
  EXPECT_EQ(second.end, raw.size());
}

TEST(scan_header, refuses_bytes_that_are_never_valid) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\nHost: a\r\n\r\n"), 400u);                        // bare LF
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"), 400u);                // bare CR
  EXPECT_EQ(status_of(std::string("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 27)), 400u);  // NUL
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"), 400u);        // obs-fold
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400u);                     // leading whitespace
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n"), 400u);           // control character
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n"), 400u);           // DEL
}

TEST(check_request_header, accepts_ordinary_requests) {
  EXPECT_EQ(status_of("GET /api/v1/health HTTP/1.1\r\nHost: a.example\r\n\r\n"), 0u);
  EXPECT_EQ(status_of("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"), 0u);
  EXPECT_EQ(status_of("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), 0u);
  EXPECT_EQ(status_of("GET / HTTP/1.0\r\n\r\n"), 0u);  // HTTP/1.0 needs no Host
  EXPECT_EQ(status_of("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 0u);
  EXPECT_EQ(status_of("GET http://a.example/x?y HTTP/1.1\r\nHost: b\r\n\r\n"), 0u);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), 0u);
}

TEST(check_request_header, refuses_content_length_with_transfer_encoding) {
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), 400u);
}

TEST(check_request_header, refuses_repeated_or_malformed_content_length) {
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n"), 400u);
}

TEST(check_request_header, refuses_transfer_encoding_not_ending_in_chunked) {
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400u);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501u);
  EXPECT_EQ(status_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400u);
}

TEST(check_request_header, refuses_missing_repeated_or_invalid_host) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400u);
}

TEST(check_request_header, refuses_invalid_field_names_and_targets) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX-A : x\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("GET x HTTP/1.1\r\nHost: a\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400u);
}

TEST(check_request_header, refuses_underscore_names_that_read_as_framing_headers) {
  // A gateway that reads "_" as "-" would frame the body by these; we would not.
  for (const char* name : {"Transfer_Encoding", "transfer_encoding", "TRANSFER_encoding", "Content_Length",
                           "content_length", "Content_length"})
    EXPECT_EQ(status_of(std::string("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n") + name + ": 5\r\n\r\n"),
              400u)
        << name;
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n"), 400u);
  // Other names with "_" are ordinary fields.
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX_Custom: 1\r\nContent_Type_X: 2\r\n\r\n"), 0u);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nContent_Lengths: 1\r\n\r\n"), 0u);
}

TEST(check_request_header, unknown_versions_get_505_and_connect_501) {
  EXPECT_EQ(status_of("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505u);
  EXPECT_EQ(status_of("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505u);
  EXPECT_EQ(status_of("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505u);
  EXPECT_EQ(status_of("GET / HTTP/11\r\nHost: a\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 501u);
}

TEST(split_absolute_target, separates_authority_and_origin_form) {
  std::string_view authority, rest;
  ASSERT_TRUE(split_absolute_target("http://evil.example:81/p?q=1", authority, rest));
  EXPECT_EQ(authority, "evil.example:81");
  EXPECT_EQ(rest, "/p?q=1");
  ASSERT_TRUE(split_absolute_target("HTTPS://a", authority, rest));
  EXPECT_EQ(authority, "a");
  EXPECT_EQ(rest, "/");
  EXPECT_FALSE(split_absolute_target("/http://a", authority, rest));
}

TEST(request_validator, an_acme_challenge_is_the_prefix_and_a_base64url_token_and_nothing_else) {
  EXPECT_TRUE(is_acme_challenge("/.well-known/acme-challenge/LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"));
  EXPECT_TRUE(is_acme_challenge("/.well-known/acme-challenge/a-b_c"));
  for (const char* target :
       {"/.well-known/acme-challenge/", "/.well-known/acme-challenge/../../admin", "/.well-known/acme-challenge/%2e%2e",
        "/.well-known/acme-challenge/x/y", "/.well-known/acme-challenge/x?y=1", "/.well-known/acme-challenge/x.y",
        "/.well-known/acme-challengex", "/other/.well-known/acme-challenge/x", "http://a/.well-known/acme-challenge/x"})
    EXPECT_FALSE(is_acme_challenge(target)) << target;
}

// Found by the request_head fuzzer: a scheme that differs only in case, as the whole target. Beast keeps the
// target in a buffer of exactly its size, and boost::beast::iequals (Boost 1.81) read one byte past it; the
// sanitizer builds fail here if a comparison ever does again.
TEST(check_request_header, an_absolute_target_of_a_scheme_alone_in_any_case_reads_nothing_beyond_it) {
  EXPECT_EQ(status_of("GET httP:// HTTP/1.1\r\nHost: a\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("GET HTTPS:// HTTP/1.1\r\nHost: a\r\n\r\n"), 400u);
  EXPECT_EQ(status_of("GET Http://a/x HTTP/1.1\r\nHost: a\r\n\r\n"), 0u);
}

TEST(field_text, iequals_ascii_ignores_ascii_case_only) {
  EXPECT_TRUE(iequals_ascii("Content-Length", "content-length"));
  EXPECT_TRUE(iequals_ascii("", ""));
  EXPECT_FALSE(iequals_ascii("chunked", "chunke"));
  EXPECT_FALSE(iequals_ascii("gzip", "gzi p"));
  EXPECT_FALSE(iequals_ascii("[", "{"));                // 0x5b and 0x7b: not letters, not folded together
  EXPECT_FALSE(iequals_ascii("\xc3\x89", "\xc3\xa9"));  // only ASCII folds
}
