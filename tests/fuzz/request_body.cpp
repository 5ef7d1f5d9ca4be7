// The request body relay (proxy/relay.hpp relay_body, as exchange::send_request runs it): the client's
// body, chunked or by Content-Length, from one socket to the node's socket, re-chunked on the way.
//
// Input: byte 0 flags (bit 0: Content-Length instead of chunked; bit 1: after the body bytes, stream
// `filler` bytes of byte 3, byte 4 times 1 KiB, as a client that never ends a line would); byte 1 cuts
// the client's bytes into writes (fuzz_support.hpp splitter); byte 2 picks the relay buffer's size; the
// rest is what the client sends after its header (the body, and maybe the next request).
// Checks, against Beast's own parse of the same bytes:
//  - a relay that succeeds delivers exactly one complete message to the node, whose body is the client's
//    body, and leaves the bytes after the body (the next request) unread;
//  - a relay that fails delivers a prefix of the client's body and never a complete message (the node must
//    not take half a body for a whole one);
//  - the relay never hangs with its input at an end;
//  - the source buffer stays bounded whatever the client streams (it is capped as the session caps its
//    own, proxy/body_limits.hpp: a chunk line or trailer section that never ends fails the relay).

#include <boost/asio/co_spawn.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/dynamic_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <exception>
#include <optional>

#include "proxy/relay.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace net = boost::asio;
namespace http = boost::beast::http;
using namespace drawbridge;
using namespace drawbridge::proxy;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view head_chunked = "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
constexpr std::uint64_t body_limit = 1 << 20;
// Far above any line a client needs, far below what a client could make us hold without a cap.
constexpr std::size_t source_buffer_cap = 128 * 1024;

std::string head_with_length(std::size_t length) {
  return "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n";
}

struct outcome {
  relay_result result;
  std::string to_node;          // what the node received
  std::size_t source_capacity;  // the source buffer's size at the end
  std::string left_over;        // bytes read from the client but not taken by the relay
};

// Runs relay_body with `head` already parsed and `wire` (what follows it) sent in pieces, then the
// client's end of stream.
outcome run_relay(std::string_view head, std::string_view wire, std::string_view filler, std::uint8_t split_seed,
                  std::size_t buffer_size) {
  net::io_context io;
  fuzz::socket_link client(io), node(io);
  http::request_parser<http::buffer_body> parser;
  parser.body_limit(body_limit);
  boost::system::error_code ec;
  parser.put(net::buffer(head.data(), head.size()), ec);
  FUZZ_CHECK(!ec && parser.is_header_done());
  limit_chunk_extensions(parser);  // as the session does

  boost::beast::flat_buffer source_buffer;
  source_buffer.max_size(client_buffer_cap(conf::limits_config{}, 8 * 1024));  // the session's read size
  io_deadline deadline;
  std::vector<char> buffer(buffer_size);
  std::string scratch;
  std::uint64_t bytes = 0;
  std::optional<relay_result> result;
  outcome out;
  net::co_spawn(io,
                relay_body(client.ours, source_buffer, parser, node.ours, deadline, head, parser.chunked(),
                           buffer.data(), buffer.size(), relay_limits{1h, 1h}, bytes, scratch),
                [&](std::exception_ptr e, relay_result r) {
                  FUZZ_CHECK(!e);
                  result = r;
                });

  fuzz::splitter split(split_seed);
  std::string_view pending;  // the piece being written
  bool ended = false;
  const bool finished = fuzz::run_until(
      io, [&] { return result.has_value(); },
      [&] {
        bool moved = node.receive_some(out.to_node);
        if (pending.empty() && !wire.empty()) {
          const auto n = split.next(wire.size());
          pending = wire.substr(0, n);
          wire.remove_prefix(n);
        }
        if (pending.empty() && wire.empty() && !filler.empty()) {
          pending = filler.substr(0, 16 * 1024);
          filler.remove_prefix(pending.size());
        }
        moved |= client.send_some(pending);
        if (pending.empty() && wire.empty() && filler.empty() && !ended) {
          client.end_peer_writes();
          ended = moved = true;
        }
        return moved;
      });
  FUZZ_CHECK(finished);
  node.ours.close();
  node.receive_some(out.to_node);
  out.result = *result;
  FUZZ_CHECK(bytes <= body_limit);
  out.source_capacity = source_buffer.capacity();
  const auto left = source_buffer.data();
  out.left_over.assign(static_cast<const char*>(left.data()), left.size());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 5) return 0;
  const bool by_length = data[0] & 1;
  const std::string filler =
      data[0] & 2 ? std::string(std::size_t{data[4]} * 1024, static_cast<char>(data[3])) : std::string();
  static constexpr std::size_t buffer_sizes[] = {1, 2, 5, 16, 100, 1024, 4096, 16 * 1024};
  const std::size_t buffer_size = buffer_sizes[data[2] & 7];
  const auto wire = fuzz::as_text(data + 5, size - 5);
  // By length: the body is the first half (rounded up) of the bytes, the rest is the next request.
  const std::string head = by_length ? head_with_length((wire.size() + 1) / 2) : std::string(head_chunked);

  const auto out = run_relay(head, wire, filler, data[1], buffer_size);
  FUZZ_CHECK(out.source_capacity <= source_buffer_cap);

  // What Beast makes of the client's bytes, all at once.
  std::string all(wire);
  all += filler;
  http::request_parser<http::string_body> reference;
  reference.body_limit(body_limit);
  boost::system::error_code ec;
  reference.put(net::buffer(head), ec);
  FUZZ_CHECK(!ec);
  std::size_t consumed = 0;
  while (!ec && !reference.is_done() && consumed < all.size()) {
    const auto n = reference.put(net::buffer(all.data() + consumed, all.size() - consumed), ec);
    consumed += n;
    if (ec == http::error::need_more) ec = {};
    if (n == 0) break;
  }
  const bool reference_complete = !ec && reference.is_done();
  const auto& body = reference.get().body();

  // What the node makes of what it got.
  // dynamic_body: string_body would reserve what the Content-Length the node sees announces.
  http::request_parser<http::dynamic_body> node;
  node.body_limit(boost::none);
  std::size_t node_consumed = 0;
  boost::system::error_code node_ec;
  while (!node_ec && !node.is_done() && node_consumed < out.to_node.size()) {
    const auto n =
        node.put(net::buffer(out.to_node.data() + node_consumed, out.to_node.size() - node_consumed), node_ec);
    node_consumed += n;
    if (node_ec == http::error::need_more) node_ec = {};
    if (n == 0) break;
  }
  FUZZ_CHECK(!node_ec);
  const auto node_body = [&] { return boost::beast::buffers_to_string(node.get().body().data()); };

  if (out.result.ok()) {
    FUZZ_CHECK(reference_complete);
    FUZZ_CHECK(node.is_done());
    FUZZ_CHECK(node_consumed == out.to_node.size());  // nothing after the message
    FUZZ_CHECK(node_body() == body);
    // The next request's bytes stay for the session.
    FUZZ_CHECK(std::string_view(all).substr(consumed).starts_with(out.left_over));
  } else {
    FUZZ_CHECK(out.result.failed == relay_result::failure::source);  // the node's socket never fails here
    FUZZ_CHECK(!node.is_done());
    FUZZ_CHECK(std::string_view(body).starts_with(node_body()));
  }
  return 0;
}
