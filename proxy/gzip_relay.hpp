#pragma once
// Relays a response body from a node to the client gzip-compressed: the response filter behind
// proxy/gzip_policy.hpp's rules, with proxy/gzip_encoder.hpp as the codec. Included only by exchange.cpp.

#include <openssl/ssl.h>

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

namespace gzip_detail {

// Chunk sizes are written with a fixed width (leading zeros are valid hex), so compressed bytes can be
// produced straight after a placeholder and the size filled in afterwards: no second copy.
inline constexpr std::size_t size_width = 8;
inline constexpr std::string_view last_chunk = "0\r\n\r\n";

// Fills in the placeholder at `chunk_at` for the `compressed` bytes after it and closes the chunk; with
// nothing compressed, removes the placeholder (an empty chunk would end the body).
inline void frame_chunk(std::string& out, std::size_t chunk_at, std::size_t compressed) {
  if (compressed == 0) {
    out.erase(chunk_at, size_width + 2);
    return;
  }
  static constexpr char digits[] = "0123456789abcdef";
  std::size_t left = compressed;  // one write's worth is far below 16^8 bytes
  for (std::size_t i = size_width; i-- > 0; left >>= 4) out[chunk_at + i] = digits[left & 15];
  out[chunk_at + size_width] = '\r';
  out[chunk_at + size_width + 1] = '\n';
  out.append("\r\n");
}

}  // namespace gzip_detail

// A body whose Content-Length fits `buffer`: read whole, compressed in one call (gzip_whole, about twice
// the streaming encoder's speed), and sent with the head in one write. `bytes` counts compressed bytes sent,
// `plain` the body bytes compressed.
template <typename Source, typename Sink>
task<relay_result> relay_gzip_whole_body(Source& source, beast::flat_buffer& source_buffer,
                                         http::parser<false, http::buffer_body>& parser, Sink& sink,
                                         io_deadline& deadline, std::string_view head, bool chunked, int level,
                                         char* buffer, std::size_t buffer_size, relay_limits limits,
                                         std::uint64_t& bytes, std::uint64_t& plain, std::string& out) {
  using namespace gzip_detail;
  relay_result result;
  parser.get().body().data = buffer;
  parser.get().body().size = buffer_size;
  while (!parser.is_done())
    if (const auto ec = co_await read_body_some(source, source_buffer, parser, deadline, limits.read_timeout))
      co_return result.fail(relay_result::failure::source, ec);
  const std::size_t length = buffer_size - parser.get().body().size;  // buffer_body advanced data and size
  out.assign(head);
  const std::size_t chunk_at = out.size();
  if (chunked) out.append(size_width + 2, '0');
  const std::size_t data_at = out.size();
  try {
    gzip_whole({buffer, length}, level, out);
  } catch (const std::exception&) {  // libdeflate could not allocate: nothing was sent, the client gets a 502
    co_return result.fail(relay_result::failure::source, net::error::no_memory);
  }
  const std::size_t compressed = out.size() - data_at;
  if (chunked) {
    frame_chunk(out, chunk_at, compressed);
    out.append(last_chunk);
  }
  if (const auto ec = co_await write_all(sink, net::buffer(out), deadline, limits.send_timeout))
    co_return result.fail(relay_result::failure::sink, ec);
  result.sink_started = true;
  bytes += compressed;
  plain += length;
  co_return result;
}

// Like relay_body for responses, but what reaches the client is the body compressed: as chunks to an
// HTTP/1.1 client (`chunked`), raw until the close to HTTP/1.0. A read that leaves nothing more to parse
// (see more_body_ready: the node paused, or sent all it had) flushes what is compressed so far, so long
// polls and server-sent events are not held back; the end of the body finishes the gzip stream. Each write is one
// contiguous buffer (head, chunk line, compressed bytes): one record on TLS. `bytes` counts compressed bytes sent,
// `plain` the body bytes compressed.
template <typename Source, typename Sink>
task<relay_result> relay_gzip_body(Source& source, beast::flat_buffer& source_buffer,
                                   http::parser<false, http::buffer_body>& parser, Sink& sink, io_deadline& deadline,
                                   std::string_view head, bool chunked, gzip_encoder& encoder, char* buffer,
                                   std::size_t buffer_size, relay_limits limits, std::uint64_t& bytes,
                                   std::uint64_t& plain, std::string& out) {
  using namespace gzip_detail;
  static constexpr std::size_t write_size = 16 * 1024;
  relay_result result;
  std::size_t pending = 0;  // compressed bytes in `out` not yet written
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
    if (pending == 0) out.assign(head);  // a new write: the head goes with the first bytes
    const std::size_t chunk_at = out.size();
    if (chunked) out.append(size_width + 2, '0');
    const std::size_t data_at = out.size();
    encoder.compress({buffer, n}, mode, out);
    plain += n;
    const std::size_t compressed = out.size() - data_at;
    if (chunked) {
      frame_chunk(out, chunk_at, compressed);
      if (done) out.append(last_chunk);
    }
    pending += compressed;
    // Write when the body ends, when a flush must reach the client, or when enough has piled up; else
    // read on and send it with what follows (fewer, larger writes).
    if (!done && mode == gzip_encoder::flush::none && out.size() < write_size) continue;
    if (out.empty()) continue;  // zlib held everything back, and there is no head to send yet

    if (const auto ec = co_await write_all(sink, net::buffer(out), deadline, limits.send_timeout))
      co_return result.fail(relay_result::failure::sink, ec);
    result.sink_started = true;
    head = {};
    bytes += pending;
    pending = 0;
    out.clear();
    if (done) co_return result;
  }
}

}  // namespace drawbridge::proxy
