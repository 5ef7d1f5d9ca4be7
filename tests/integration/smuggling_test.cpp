// Every request-smuggling shape from DESIGN.md "Bad input": refused with 400 (or 501/505), the connection
// closed, and nothing forwarded to a node.

#include <gtest/gtest.h>

#include "tests/support/fake_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge::testing;

namespace {

struct bad_request {
  const char* name;
  std::string bytes;
  unsigned status;
};

// A follow-up request rides behind each bad one: if the proxy framed the bad one differently from the
// node, that smuggled request would reach the node.
const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

std::vector<bad_request> shapes() {
  return {
      {"content_length_and_transfer_encoding",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX", 400},
      {"transfer_encoding_then_content_length",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nX", 400},
      {"repeated_content_length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
       400},
      {"conflicting_content_length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc",
       400},
      {"content_length_list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", 400},
      {"malformed_content_length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3x\r\n\r\nabc", 400},
      {"negative_content_length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
      {"transfer_encoding_not_ending_in_chunked",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400},
      {"transfer_encoding_identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400},
      {"transfer_encoding_chunked_twice",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"obfuscated_transfer_encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
       400},
      {"transfer_encoding_in_http_1_0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"bad_chunk_size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400},
      {"chunk_size_overflow",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nabc\r\n0\r\n\r\n", 400},
      {"obs_fold", "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n", 400},
      {"space_before_colon", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
      {"nul_in_value", std::string("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n", 37), 400},
      {"bare_cr_in_value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400},
      {"bare_lf_line_ending", "GET / HTTP/1.1\nHost: a\n\n", 400},
      {"invalid_field_name", "GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n", 400},
      {"missing_host", "GET / HTTP/1.1\r\n\r\n", 400},
      {"repeated_host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"unknown_http_version", "GET / HTTP/1.7\r\nHost: a\r\n\r\n", 505},
      {"http_2_preface_on_http_1", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"garbage_request_line", "HELLO\r\n\r\n", 400},
      {"connect_method", "CONNECT internal:22 HTTP/1.1\r\nHost: internal:22\r\n\r\n", 501},
  };
}

}  // namespace

TEST(smuggling, every_ambiguous_request_is_refused_closed_and_never_forwarded) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  for (const auto& shape : shapes()) {
    SCOPED_TRACE(shape.name);
    const auto raw = raw_exchange(proxy.port(), shape.bytes + smuggled);
    EXPECT_EQ(first_status(raw.received), shape.status) << raw.received;
    EXPECT_FALSE(raw.timed_out) << "connection left open";
    // Exactly one response: nothing after the refusal was read as a request.
    EXPECT_EQ(raw.received.find("\nHTTP/1."), std::string::npos) << raw.received;
    EXPECT_EQ(node.requests(), 0u);
  }
}

TEST(smuggling, chunked_request_is_reframed_for_the_node) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  const auto raw = raw_exchange(proxy.port(),
                                "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
                                "GET /smuggled HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(first_status(raw.received), 200u) << raw.received;
  // sha256("hello world")
  EXPECT_NE(raw.received.find("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"), std::string::npos)
      << raw.received;
  // The smuggled-looking request is just the next pipelined request: answered second, in order.
  EXPECT_NE(raw.received.find("\"path\":\"/smuggled\""), std::string::npos) << raw.received;
}
