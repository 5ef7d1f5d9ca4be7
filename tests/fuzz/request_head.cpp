// The request head as the session takes it (proxy/session.cpp, read_header, serve_request and forward):
// scan_header as the bytes arrive, check_version, Beast's parser, check_request_header, then the node's
// copy made with rewrite_request, set_framing and set_keep_alive and written by write_request_head.
//
// Input: byte 0 cuts the rest into reads (fuzz_support.hpp splitter); the rest is what the client sends.
// Checks:
//  - scan_header resumed after every read says what one pass over the same bytes says;
//  - an accepted request goes to the node as a head that Beast parses back, whole and with nothing left
//    over, to the same method, target and fields, with exactly the client's body framing (one
//    Content-Length of the same value, or Transfer-Encoding: chunked, or neither), and that our own
//    framing checks accept again.

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <string>
#include <utility>
#include <vector>

#include "proxy/field_text.hpp"
#include "proxy/head_writer.hpp"
#include "proxy/header_rewrite.hpp"
#include "proxy/request_validator.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace http = boost::beast::http;
using namespace drawbridge;
using namespace drawbridge::proxy;

namespace {

constexpr std::size_t max_header = 16 * 1024;  // limits.max_header_size's default

using field_list = std::vector<std::pair<std::string, std::string>>;

field_list fields_of(const http::fields& fields) {
  field_list out;
  for (const auto& f : fields) out.emplace_back(f.name_string(), f.value());
  return out;
}

// The header's end as the session finds it, one read at a time (0 while incomplete); `bad` as refused.
header_scan scan_in_reads(std::string_view bytes, std::uint8_t seed) {
  fuzz::splitter split(seed);
  std::size_t have = 0;
  std::size_t scanned = 0;
  for (;;) {
    const auto scan = scan_header(bytes.substr(0, have), scanned);
    if (!scan.bad.ok() || scan.end != 0 || have == bytes.size()) return scan;
    scanned = scan.scanned;
    have += split.next(bytes.size() - have);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto bytes = fuzz::as_text(data + 1, size - 1);

  const auto one_pass = scan_header(bytes, 0);
  const auto in_reads = scan_in_reads(bytes, data[0]);
  FUZZ_CHECK(one_pass.end == in_reads.end);
  FUZZ_CHECK(one_pass.bad.status == in_reads.bad.status);
  FUZZ_CHECK(std::string_view(one_pass.bad.reason) == in_reads.bad.reason);
  if (!one_pass.bad.ok() || one_pass.end == 0 || one_pass.end > max_header) return 0;
  const std::size_t header_end = one_pass.end;
  FUZZ_CHECK(bytes.substr(header_end - 4, 4) == "\r\n\r\n");

  if (!check_version(bytes.substr(0, header_end)).ok()) return 0;
  http::request_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(header_end + 1));
  parser.body_limit(boost::none);
  boost::system::error_code ec;
  const auto used = parser.put(boost::asio::buffer(bytes.data(), header_end), ec);
  if (ec || !parser.is_header_done()) return 0;
  FUZZ_CHECK(used == header_end);  // the scan and Beast agree on where the header ends
  auto& req = parser.get();
  if (!check_request_header(req).ok()) return 0;

  // What the client's framing says the body is.
  const auto length = parser.content_length();
  const bool chunked = parser.chunked();
  FUZZ_CHECK(!(length && chunked));

  // The node's copy, as forward() makes it.
  std::string_view authority, rest;
  if (split_absolute_target(req.target(), authority, rest)) {
    const std::string target = rest.front() == '?' ? "/" + std::string(rest) : std::string(rest);
    const std::string host(authority);
    req.target(target);
    req.set(http::field::host, host);
  }
  std::string upgrade;
  if (parser.upgrade() && req.method() == http::verb::get)
    for (const auto token : http::token_list{req[http::field::upgrade]})
      if (proxy::iequals_ascii(token.substr(0, token.find('/')), "websocket"))
        upgrade = std::string(req[http::field::upgrade]);
  http::request_header<> forwarded = std::move(req.base());
  forwarded.version(11);
  forwarded.erase(http::field::expect);
  rewrite_request(forwarded, forwarding{"192.0.2.7", "http", "0b6c1e7a-3c1d-4f4e-9a53-2f4d1c9e8b21"});
  if (length)
    set_framing(forwarded, body_framing::length, *length);
  else
    set_framing(forwarded, chunked ? body_framing::chunked : body_framing::none, 0);
  set_keep_alive(forwarded, 11, true);
  if (!upgrade.empty()) {
    forwarded.set(http::field::connection, "upgrade");
    forwarded.set(http::field::upgrade, upgrade);
  }
  std::string head;
  write_request_head(forwarded, head);

  // The node reads it back.
  http::request_parser<http::empty_body> node;
  node.body_limit(boost::none);
  node.header_limit(static_cast<std::uint32_t>(head.size() + 1));
  const auto node_used = node.put(boost::asio::buffer(head), ec);
  if (ec) std::fprintf(stderr, "the node's parser refused the head: %s\n%s", ec.message().c_str(), head.c_str());
  FUZZ_CHECK(!ec);
  FUZZ_CHECK(node.is_header_done());
  FUZZ_CHECK(node_used == head.size());
  const auto& got = node.get();
  FUZZ_CHECK(got.method_string() == forwarded.method_string());
  FUZZ_CHECK(got.target() == forwarded.target());
  FUZZ_CHECK(got.version() == 11);
  FUZZ_CHECK(fields_of(got) == fields_of(forwarded));
  // Exactly the client's framing, said once.
  FUZZ_CHECK(node.content_length() == length);
  FUZZ_CHECK(node.chunked() == chunked);
  FUZZ_CHECK(got.count(http::field::content_length) <= 1);
  FUZZ_CHECK(got.count(http::field::transfer_encoding) <= (chunked ? 1u : 0u));
  FUZZ_CHECK(got.count(http::field::host) <= 1);
  // Our own checks accept what we send (a Host-less HTTP/1.0 request goes on as HTTP/1.1 without one,
  // which they would refuse: that is the one difference allowed here).
  const auto again = check_request_header(got);
  FUZZ_CHECK(again.ok() || (got.count(http::field::host) == 0 && again.status == 400));
  return 0;
}
