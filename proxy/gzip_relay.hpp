#pragma once
// Relays a response body from a node to the client gzip-compressed: the response filter behind
// proxy/gzip_policy.hpp's rules, with proxy/gzip_encoder.hpp as the codec. Included only by exchange.cpp.

#include <openssl/ssl.h>

#include "proxy/downstream_sink.hpp"
#include "proxy/gzip_encoder.hpp"
#include "proxy/relay.hpp"

namespace drawbridge::proxy {

// Whether the next read of the body can be served without waiting for the node: enough unparsed bytes
// (more than a chunk's framing), bytes on the socket, or records inside OpenSSL. Errs towards "no",
// which only costs a flush: zlib keeps nothing back then.
template <typename Source>
bool more_body_ready(Source& source, const beast::flat_buffer& unparsed) {
  if (unparsed.size() >= 32) return true;
  boost::system::error_code ec;
  if (source.lowest_layer().available(ec) > 0 && !ec) return true;
  if constexpr (is_tls_stream<Source>::value) return SSL_pending(source.native_handle()) > 0;
  return false;
}

// A body whose Content-Length fits `buffer`: read whole, compressed in one call (gzip_whole, about twice
// the streaming encoder's speed), and sent with the staged head in one write (the sink frames it). `bytes`
// counts compressed bytes sent, `plain` the body bytes compressed; `out` holds the compressed bytes.
template <typename Source>
task<relay_result> relay_gzip_whole_body(Source& source, beast::flat_buffer& source_buffer,
                                         http::parser<false, http::buffer_body>& parser, downstream_sink& sink,
                                         io_deadline& deadline, int level, char* buffer, std::size_t buffer_size,
                                         relay_limits limits, std::uint64_t& bytes, std::uint64_t& plain,
                                         std::string& out) {
  relay_result result;
  parser.get().body().data = buffer;
  parser.get().body().size = buffer_size;
  while (!parser.is_done())
    if (const auto ec = co_await read_body_some(source, source_buffer, parser, deadline, limits.read_timeout))
      co_return result.fail(relay_result::failure::source, ec);
  const std::size_t length = buffer_size - parser.get().body().size;  // buffer_body advanced data and size
  out.clear();
  try {
    gzip_whole({buffer, length}, level, out);
  } catch (const std::exception&) {  // libdeflate could not allocate: nothing was sent, the client gets a 502
    co_return result.fail(relay_result::failure::source, net::error::no_memory);
  }
  if (const auto ec = co_await send_to(sink, net::buffer(out), /*last=*/true))
    co_return result.fail(relay_result::failure::sink, ec);
  result.sink_started = true;
  bytes += out.size();
  plain += length;
  co_return result;
}

// Like relay_body for responses, but what reaches the client is the body compressed (the sink frames it:
// chunks to an HTTP/1.1 client, raw until the close to HTTP/1.0). A read that leaves nothing more to parse
// (see more_body_ready: the node paused, or sent all it had) flushes what is compressed so far, so long
// polls and server-sent events are not held back; the end of the body finishes the gzip stream. `bytes`
// counts compressed bytes sent, `plain` the body bytes compressed; `out` collects compressed bytes
// between writes.
template <typename Source>
task<relay_result> relay_gzip_body(Source& source, beast::flat_buffer& source_buffer,
                                   http::parser<false, http::buffer_body>& parser, downstream_sink& sink,
                                   io_deadline& deadline, gzip_encoder& encoder, char* buffer, std::size_t buffer_size,
                                   relay_limits limits, std::uint64_t& bytes, std::uint64_t& plain, std::string& out) {
  static constexpr std::size_t write_size = 16 * 1024;
  relay_result result;
  out.clear();
  for (;;) {
    std::size_t n = 0;
    if (!parser.is_done()) {
      parser.get().body().data = buffer;
      parser.get().body().size = buffer_size;
      if (const auto ec = co_await read_body_some(source, source_buffer, parser, deadline, limits.read_timeout))
        co_return result.fail(relay_result::failure::source, ec);
      n = buffer_size - parser.get().body().size;
    }
    const bool done = parser.is_done();
    const auto mode = done                                     ? gzip_encoder::flush::finish
                      : more_body_ready(source, source_buffer) ? gzip_encoder::flush::none
                                                               : gzip_encoder::flush::sync;
    encoder.compress({buffer, n}, mode, out);
    plain += n;
    // Write when the body ends, when a flush must reach the client, or when enough has piled up; else
    // read on and send it with what follows (fewer, larger writes).
    if (!done && mode == gzip_encoder::flush::none && out.size() < write_size) continue;
    if (!done && out.empty() && result.sink_started) continue;  // zlib held everything back; the head went

    if (const auto ec = co_await send_to(sink, net::buffer(out), done))
      co_return result.fail(relay_result::failure::sink, ec);
    result.sink_started = true;
    bytes += out.size();
    out.clear();
    if (done) co_return result;
  }
}

}  // namespace drawbridge::proxy
