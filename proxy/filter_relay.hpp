#pragma once
// Relays a response body from a node to the client through the response filters that change it
// (proxy/response_filter.hpp: gzip today). Included only by exchange.cpp.

#include <openssl/ssl.h>

#include "proxy/downstream_sink.hpp"
#include "proxy/relay.hpp"
#include "proxy/response_filter.hpp"

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

// A body whose Content-Length fits `buffer` (and whose filters want it whole: see response_filters):
// read whole, transformed in one call, and sent with the staged head in one write (the sink frames it).
// `bytes` counts the bytes sent, `plain` the body bytes given to the filters; `out` holds the output.
template <typename Source>
task<relay_result> relay_filtered_whole_body(Source& source, beast::flat_buffer& source_buffer,
                                             http::parser<false, http::buffer_body>& parser, downstream_sink& sink,
                                             io_deadline& deadline, response_filters& filters, char* buffer,
                                             std::size_t buffer_size, relay_limits limits, std::uint64_t& bytes,
                                             std::uint64_t& plain, std::string& out) {
  relay_result result;
  parser.get().body().data = buffer;
  parser.get().body().size = buffer_size;
  while (!parser.is_done())
    if (const auto ec = co_await read_body_some(source, source_buffer, parser, deadline, limits.read_timeout))
      co_return result.fail(relay_result::failure::source, ec);
  const std::size_t length = buffer_size - parser.get().body().size;  // buffer_body advanced data and size
  out.clear();
  try {
    filters.transform({buffer, length}, filter_flush::finish, out);
  } catch (const std::exception&) {  // a filter could not allocate: nothing was sent, the client gets a 502
    co_return result.fail(relay_result::failure::source, net::error::no_memory);
  }
  if (const auto ec = co_await send_to(sink, net::buffer(out), /*last=*/true))
    co_return result.fail(relay_result::failure::sink, ec);
  result.sink_started = true;
  bytes += out.size();
  plain += length;
  co_return result;
}

// Like relay_body for responses, but what reaches the client is the body as the filters made it (the
// sink frames it: chunks to an HTTP/1.1 client, raw until the close to HTTP/1.0). A read that leaves
// nothing more to parse (see more_body_ready: the node paused, or sent all it had) flushes the filters,
// so long polls and server-sent events are not held back; the end of the body finishes them. `bytes`
// counts the bytes sent, `plain` the body bytes given to the filters; `out` collects their output
// between writes.
template <typename Source>
task<relay_result> relay_filtered_body(Source& source, beast::flat_buffer& source_buffer,
                                       http::parser<false, http::buffer_body>& parser, downstream_sink& sink,
                                       io_deadline& deadline, response_filters& filters, char* buffer,
                                       std::size_t buffer_size, relay_limits limits, std::uint64_t& bytes,
                                       std::uint64_t& plain, std::string& out) {
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
    const auto flush = done                                     ? filter_flush::finish
                       : more_body_ready(source, source_buffer) ? filter_flush::none
                                                                : filter_flush::sync;
    filters.transform({buffer, n}, flush, out);
    plain += n;
    // Write when the body ends, when a flush must reach the client, or when enough has piled up; else
    // read on and send it with what follows (fewer, larger writes).
    if (!done && flush == filter_flush::none && out.size() < write_size) continue;
    if (!done && out.empty() && result.sink_started) continue;  // all held back; the head went already

    if (const auto ec = co_await send_to(sink, net::buffer(out), done))
      co_return result.fail(relay_result::failure::sink, ec);
    result.sink_started = true;
    bytes += out.size();
    out.clear();
    if (done) co_return result;
  }
}

}  // namespace drawbridge::proxy
