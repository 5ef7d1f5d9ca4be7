// Mutated requests through the same checks the session runs: nothing may crash, hang or be accepted
// with ambiguous framing. Deterministic (fixed seed) and bounded; the sanitizer builds make it strict.

#include <gtest/gtest.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <iostream>
#include <random>

#include "proxy/request_validator.hpp"

using namespace drawbridge::proxy;
namespace http = boost::beast::http;

namespace {

const char* seeds[] = {
    "GET /api/v1/health HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "GET http://a/b?c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
};

// The session's order: raw scan, version, Beast, field checks. Returns the verdict's status (0 = accepted).
unsigned judge(const std::string& raw) {
  const auto scan = scan_header(raw, 0);
  if (!scan.bad.ok()) return scan.bad.status;
  if (scan.end == 0) return 1;
  if (const auto v = check_version(std::string_view(raw).substr(0, scan.end)); !v.ok()) return v.status;
  http::request_parser<http::empty_body> parser;
  parser.body_limit(boost::none);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(raw.data(), scan.end), ec);
  if (ec || !parser.is_header_done()) return 400;
  const auto v = check_request_header(parser.get());
  if (v.ok()) {
    // Whatever was accepted has unambiguous framing.
    const auto& h = parser.get();
    EXPECT_LE(h.count(http::field::content_length), 1u) << raw;
    EXPECT_FALSE(h.count(http::field::content_length) && h.count(http::field::transfer_encoding)) << raw;
    EXPECT_LE(h.count(http::field::host), 1u) << raw;
  }
  return v.status;
}

}  // namespace

TEST(request_fuzz, mutated_requests_never_crash_and_never_pass_with_ambiguous_framing) {
  std::mt19937 rng(20261126);
  static constexpr char interesting[] = {'\r', '\n', ' ', '\t', ':', ',', '\0', '\x7f', '\xff', '0', 'a', '-'};
  int accepted = 0;
  int refused = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string raw = seeds[rng() % std::size(seeds)];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !raw.empty(); ++e) {
      const auto at = rng() % raw.size();
      switch (rng() % 4) {
        case 0:
          raw[at] = interesting[rng() % sizeof interesting];
          break;
        case 1:
          raw.insert(raw.begin() + static_cast<long>(at), interesting[rng() % sizeof interesting]);
          break;
        case 2:
          raw.erase(at, 1);
          break;
        default:
          raw.insert(at, raw.substr(rng() % raw.size(), rng() % 24));
          break;  // duplicate a slice
      }
    }
    const unsigned status = judge(raw);
    if (status == 0)
      ++accepted;
    else if (status >= 400)
      ++refused;
  }
  std::cout << "accepted " << accepted << ", refused " << refused << " of 200000\n";
  // Both outcomes occur: the mutations are neither all harmless nor all fatal.
  EXPECT_GT(accepted, 1000);
  EXPECT_GT(refused, 10000);
}
