// The node's response on its way to the client: upstream/response_head.hpp read_response_head over the
// node's socket, then what exchange::attempt and exchange::relay_response (proxy/exchange.cpp, without
// gzip) do with it: interim responses skipped, rewrite_response, framing for the client's version,
// write_response_head, relay_body (is_request = false) to the client's socket.
//
// Input: byte 0 flags (bit 0: the request was HEAD; bit 1: the client speaks HTTP/1.0; bit 2: the client
// asked to keep the connection alive); byte 1 cuts the node's bytes into writes (fuzz_support.hpp); byte 2
// picks the relay buffer's size; the rest is what the node sends, then it closes.
// Checks, against Beast's own parse of the node's bytes:
//  - a response whose head the node botched (or whose status is not from 100 to 599) reaches the client
//    not at all (the exchange answers 502);
//  - a relayed response reaches the client as one well-framed message, with the node's status and body
//    and nothing after it; one the client may keep the connection after ends without the close;
//  - a relay the node breaks off gives the client a prefix of the node's body and, when the framing
//    says where the body ends, never a complete message;
//  - nothing hangs once the node closed.

#include <boost/asio/co_spawn.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/dynamic_body.hpp>
#include <cstdint>
#include <exception>
#include <optional>

#include "net/readiness.hpp"
#include "proxy/head_writer.hpp"
#include "proxy/header_rewrite.hpp"
#include "proxy/relay.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "upstream/response_head.hpp"

namespace net = boost::asio;
namespace http = boost::beast::http;
using namespace drawbridge;
using namespace drawbridge::proxy;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view request_id = "0b6c1e7a-3c1d-4f4e-9a53-2f4d1c9e8b21";

enum class ending { head_failed, not_relayed, relayed };

struct run {
  ending end = ending::head_failed;
  relay_result relayed;
  bool keep = false;            // the client was told it may send another request
  bool self_delimited = false;  // Content-Length, chunked or no body: the end is in the message
  unsigned status = 0;
  std::string to_client;
};

// exchange::attempt's head loop and relay_response's decisions, on the node's link.
task<void> respond(upstream::upstream_connection& connection, fuzz::socket_link& client, bool head, unsigned version,
                   bool client_keep_alive, std::size_t buffer_size, run& r) {
  std::optional<http::response_parser<http::buffer_body>> parser;
  for (;;) {
    parser.emplace();
    parser->body_limit(boost::none);
    if (head) parser->skip(true);
    const auto ec = co_await upstream::read_response_head(connection, *parser);
    if (ec) co_return;
    const unsigned status = parser->get().result_int();
    if (status < 100 || status > 599) co_return;  // 502
    if (status >= 200 || status == 101) break;
  }
  r.status = parser->get().result_int();
  if (r.status == 101) {  // a tunnel or a 502, not a relay
    r.end = ending::not_relayed;
    co_return;
  }
  http::response_header<> response = std::move(parser->get().base());
  rewrite_response(response, request_id);
  response.version(version);
  bool keep = client_keep_alive;
  const bool header_only = parser->is_done();
  bool chunked = false;
  r.self_delimited = true;
  std::optional<std::uint64_t> length;  // as the exchange has it (Beast's is a boost::optional)
  if (const auto l = parser->content_length()) length = *l;
  if (header_only) {
    tidy_header_only_framing(response, length);
  } else {
    if (length) {
      set_framing(response, body_framing::length, *length);
    } else if (version == 11) {
      set_framing(response, body_framing::chunked, 0);
      chunked = true;
    } else {
      set_framing(response, body_framing::until_close, 0);
      keep = false;
      r.self_delimited = false;
    }
  }
  set_keep_alive(response, version, keep);
  std::string head_buffer;
  write_response_head(response, head_buffer);
  r.keep = keep;
  r.end = ending::relayed;
  std::vector<char> buffer(buffer_size);
  std::string scratch;
  std::uint64_t bytes = 0;
  io_deadline deadline;
  r.relayed = co_await relay_body(connection.socket, connection.buffer, *parser, client.ours, deadline, head_buffer,
                                  chunked, buffer.data(), buffer.size(), relay_limits{1h, 1h}, bytes, scratch);
}

// What Beast makes of the node's bytes: the final response's status and body (as far as it is valid),
// and whether it is complete.
struct reference {
  unsigned status = 0;
  std::string body;
  bool complete = false;
};

reference parse_node(std::string_view bytes, bool head) {
  reference ref;
  for (;;) {
    // dynamic_body, not string_body: string_body reserves whatever Content-Length announces (gigabytes,
    // from the fuzzer), while this grows with the bytes that come.
    http::response_parser<http::dynamic_body> parser;
    parser.body_limit(boost::none);
    if (head) parser.skip(true);
    boost::system::error_code ec;
    while (!ec && !parser.is_done() && !bytes.empty()) {
      const auto n = parser.put(net::buffer(bytes.data(), bytes.size()), ec);
      bytes.remove_prefix(n);
      if (ec == http::error::need_more) ec = {};
      if (n == 0) break;
    }
    if (!ec && !parser.is_done() && parser.is_header_done() && bytes.empty()) parser.put_eof(ec);
    if (!parser.is_header_done()) return ref;
    ref.status = parser.get().result_int();
    if (ref.status < 100 || ref.status > 599) return ref;
    if (ref.status < 200 && ref.status != 101) continue;
    ref.body = boost::beast::buffers_to_string(parser.get().body().data());
    ref.complete = !ec && parser.is_done();
    return ref;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const bool head = data[0] & 1;
  const unsigned version = data[0] & 2 ? 10 : 11;
  const bool client_keep_alive = data[0] & 4;
  static constexpr std::size_t buffer_sizes[] = {1, 2, 5, 16, 100, 1024, 4096, 16 * 1024};
  const std::size_t buffer_size = buffer_sizes[data[2] & 7];
  const auto node_bytes = fuzz::as_text(data + 3, size - 3);

  net::io_context io;
  fuzz::socket_link node(io), client(io);
  upstream::upstream_connection connection(io.get_executor());
  connection.socket = std::move(node.ours);
  net_types::watch_peer_close(connection.socket);
  connection.buffer.reserve(16 * 1024);

  run r;
  bool done = false;
  net::co_spawn(io, respond(connection, client, head, version, client_keep_alive, buffer_size, r),
                [&](const std::exception_ptr& e) {
                  FUZZ_CHECK(!e);
                  done = true;
                });
  fuzz::splitter split(data[1]);
  std::string_view wire = node_bytes;
  std::string_view pending;
  bool ended = false;
  const bool finished = fuzz::run_until(
      io, [&] { return done; },
      [&] {
        bool moved = client.receive_some(r.to_client);
        if (pending.empty() && !wire.empty()) {
          const auto n = split.next(wire.size());
          pending = wire.substr(0, n);
          wire.remove_prefix(n);
        }
        moved |= node.send_some(pending);
        if (pending.empty() && wire.empty() && !ended) {
          node.end_peer_writes();
          ended = moved = true;
        }
        return moved;
      });
  FUZZ_CHECK(finished);
  client.ours.close();
  client.receive_some(r.to_client);

  const auto ref = parse_node(node_bytes, head);
  if (r.end != ending::relayed) {
    FUZZ_CHECK(r.to_client.empty());
    return 0;
  }
  FUZZ_CHECK(ref.status == r.status);

  http::response_parser<http::dynamic_body> got;
  got.body_limit(boost::none);
  if (head) got.skip(true);
  std::string_view rest = r.to_client;
  boost::system::error_code ec;
  while (!ec && !got.is_done() && !rest.empty()) {
    const auto n = got.put(net::buffer(rest.data(), rest.size()), ec);
    rest.remove_prefix(n);
    if (ec == http::error::need_more) ec = {};
    if (n == 0) break;
  }
  auto got_body = [&] { return boost::beast::buffers_to_string(got.get().body().data()); };
  if (ec) std::fprintf(stderr, "the client's parser refused the response: %s\n", ec.message().c_str());
  FUZZ_CHECK(!ec);
  const bool done_before_close = got.is_done();
  if (!got.is_done() && got.is_header_done()) got.put_eof(ec);

  if (r.relayed.ok()) {
    FUZZ_CHECK(ref.complete);
    FUZZ_CHECK(!ec && got.is_done());
    FUZZ_CHECK(rest.empty());  // nothing after the message
    FUZZ_CHECK(got.get().result_int() == ref.status);
    FUZZ_CHECK(got_body() == ref.body);
    FUZZ_CHECK(got.get().count(http::field::content_length) <= 1);
    if (const auto length = got.get().find(http::field::content_length); length != got.get().end()) {
      const auto digits = length->value();
      FUZZ_CHECK(!digits.empty() && digits.find_first_not_of("0123456789") == boost::beast::string_view::npos);
    }
    if (ref.status == 204)
      FUZZ_CHECK(got.get().count(http::field::content_length) + got.get().count(http::field::transfer_encoding) == 0);
    FUZZ_CHECK(!(got.get().count(http::field::content_length) && got.get().count(http::field::transfer_encoding)));
    if (r.keep || r.self_delimited) FUZZ_CHECK(done_before_close);
  } else {
    FUZZ_CHECK(r.relayed.failed == relay_result::failure::source);
    FUZZ_CHECK(std::string_view(ref.body).starts_with(got_body()));
    if (r.self_delimited) FUZZ_CHECK(!done_before_close);
  }
  return 0;
}
