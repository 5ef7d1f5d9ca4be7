#pragma once
// An HTTP/2 request's body, from its stream (proxy/h2_stream.hpp) to the node: the HTTP/2 counterpart of
// relay_body_through's request direction (proxy/relay.hpp), with the same limits. Each read takes what
// DATA frames brought (opening the client's window by as much); the body's size is capped at
// max_body_size (413 when nothing was answered yet), and the wait for more is timed as an HTTP/1.1 body's
// read (client_body, min_body_rate).
// Include only from the .cpp files that relay.

#include <boost/beast/http/error.hpp>
#include <span>

#include "proxy/body_limits.hpp"
#include "proxy/h2_stream.hpp"
#include "proxy/relay.hpp"

namespace drawbridge::proxy {

template <typename Writer>
task<relay_result> relay_h2_body(h2_stream& stream, Writer writer, char* buffer, std::size_t buffer_size,
                                 relay_limits limits, std::uint64_t max_body, std::uint64_t& bytes) {
  relay_result result;
  auto& deadline = stream.deadline();
  io_deadline::clock::time_point started{};
  std::uint64_t read_total = 0;
  for (;;) {
    if (!stream.body_waiting() && !stream.request_complete()) {
      const auto now = io_deadline::clock::now();
      if (started == io_deadline::clock::time_point{}) started = now;
      deadline.arm_until(stream, limits.min_rate == 0 ? now + limits.read_timeout
                                                      : body_read_deadline(started, now, read_total,
                                                                           limits.read_timeout, limits.min_rate));
      while (!stream.body_waiting() && !stream.request_complete() && !stream.closed() && !deadline.expired())
        co_await stream.wait();
      if (deadline.disarm()) co_return result.fail(relay_result::failure::source, beast::error::timeout);
    }
    if (stream.closed()) co_return result.fail(relay_result::failure::source, net::error::connection_reset);
    const std::size_t n = stream.take_body(buffer, buffer_size);
    read_total += n;
    if (read_total > max_body) co_return result.fail(relay_result::failure::source, http::error::body_limit);
    const bool done = !stream.body_waiting() && stream.request_complete();
    if (n == 0 && !done) continue;
    const net::const_buffer data(buffer, n);
    const std::span<const net::const_buffer> pieces(&data, n > 0 ? 1 : 0);
    boost::system::error_code ec;
    if (!(done ? writer.finish(pieces, ec) : writer.write_body(pieces, ec))) {
      const auto waited_from = io_deadline::clock::now();
      ec = co_await writer.write_rest();
      if (started != io_deadline::clock::time_point{}) started += io_deadline::clock::now() - waited_from;
    }
    if (ec) co_return result.fail(relay_result::failure::sink, ec);
    result.sink_started = true;
    bytes += n;
    if (done) co_return result;
  }
}

}  // namespace drawbridge::proxy
