#pragma once
// Streams one message body from a Beast parser to a socket (or the client's sink) through a fixed buffer,
// chunk by chunk as it arrives: memory per message is the buffer, whatever the body's size. Used in both
// directions. The head (already serialised) goes out in the same gather write as the first body bytes.
// Include only from the .cpp files that relay (it instantiates Beast's parser).

#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <chrono>
#include <span>
#include <string>
#include <string_view>
#include <tuple>

#include "proxy/awaitable.hpp"
#include "proxy/body_limits.hpp"
#include "proxy/downstream_sink.hpp"
#include "proxy/io_deadline.hpp"
#include "proxy/stream_write.hpp"

namespace drawbridge::proxy {

namespace beast = boost::beast;
namespace http = beast::http;

struct relay_result {
  enum class failure { none, source, sink } failed = failure::none;
  boost::system::error_code ec;
  bool sink_started = false;  // at least one write to the sink completed
  bool ok() const { return failed == failure::none; }
  relay_result& fail(failure where, boost::system::error_code e) {
    failed = where;
    ec = e;
    return *this;
  }
};

struct relay_limits {
  std::chrono::milliseconds read_timeout;  // for each read from the source
  std::chrono::milliseconds send_timeout;  // for each write to the sink
  // The source must average at least this many body bytes/s, counted from its first read, once
  // body_rate_grace has passed (proxy/body_limits.hpp); 0 = no minimum. Request bodies only.
  std::uint64_t min_rate = 0;
};

// The two timed steps every body relay is made of.
// One read of body bytes through `parser` (into the body buffer the caller set), within `timeout`: the
// error, a deadline as beast::error::timeout; a full body buffer (need_buffer) is no error.
template <bool is_request, typename Source>
task<boost::system::error_code> read_body_some(Source& source, beast::flat_buffer& source_buffer,
                                               http::parser<is_request, http::buffer_body>& parser,
                                               io_deadline& deadline, std::chrono::milliseconds timeout) {
  deadline.arm(source, timeout);
  auto [ec, ignored] = co_await http::async_read_some(source, source_buffer, parser, use_tuple);
  if (deadline.disarm()) ec = beast::error::timeout;
  if (ec == http::error::need_buffer) ec = {};
  co_return ec;
}

// The client's sink as a relay's writer.
struct sink_writer {
  downstream_sink& sink;
  bool write_body(std::span<const net::const_buffer> data, boost::system::error_code& ec) {
    return sink.write_body(data, ec);
  }
  bool finish(std::span<const net::const_buffer> data, boost::system::error_code& ec) { return sink.finish(data, ec); }
  task<boost::system::error_code> write_rest() { return sink.write_rest(); }
};

// Streams the body that `parser` reads from `source` to `writer`: a body_writer (to a stream) or a
// sink_writer (to the client). The first write carries what the writer has staged (the head); the last
// one ends the body (finish). `writer` is taken by value, so that one made for this relay lives in the
// relay's frame. `buffer` is the caller's scratch space; `bytes` counts body bytes that reached the writer.
template <bool is_request, typename Source, typename Writer>
task<relay_result> relay_body_through(Source& source, beast::flat_buffer& source_buffer,
                                      http::parser<is_request, http::buffer_body>& parser, Writer writer,
                                      io_deadline& deadline, char* buffer, std::size_t buffer_size, relay_limits limits,
                                      std::uint64_t& bytes) {
  relay_result result;
  io_deadline::clock::time_point started{};  // of the first read, when min_rate applies
  std::uint64_t read_total = 0;              // body bytes read from the source
  for (;;) {
    std::size_t n = 0;
    if (!parser.is_done()) {
      parser.get().body().data = buffer;
      parser.get().body().size = buffer_size;
      // Bytes already read (a small answer comes in one read with its header) are parsed here, as Beast's
      // read would, but without handing a completion to the io_context's queue. A read is needed only
      // when they give no body bytes.
      boost::system::error_code ec;
      bool need_read = source_buffer.size() == 0;
      if (!need_read) {
        source_buffer.consume(parser.put(source_buffer.data(), ec));
        if (ec == http::error::need_buffer) ec = {};
        if (ec == http::error::need_more) {
          ec = {};
          need_read = parser.get().body().size == buffer_size;
        }
        if (ec) co_return result.fail(relay_result::failure::source, ec);
      }
      if (need_read) {
        // The steps of read_body_some written out here: this loop runs for every proxied request, and
        // calling it costs a coroutine frame per read (the small-GET benchmark ran about 3% slower that
        // way, close to its noise).
        if (limits.min_rate == 0) {
          deadline.arm(source, limits.read_timeout);
        } else {
          const auto now = io_deadline::clock::now();
          if (started == io_deadline::clock::time_point{}) started = now;
          deadline.arm_until(source,
                             body_read_deadline(started, now, read_total, limits.read_timeout, limits.min_rate));
        }
        // A chunk line or trailer section that never ends fills the source buffer up to its cap (a
        // session's: client_buffer_cap), and then fails here with buffer_overflow.
        std::tie(ec, std::ignore) = co_await http::async_read_some(source, source_buffer, parser, use_tuple);
        if (deadline.disarm()) ec = beast::error::timeout;
        if (ec == http::error::need_buffer) ec = {};
        if (ec) co_return result.fail(relay_result::failure::source, ec);
      }
      n = buffer_size - parser.get().body().size;
      read_total += n;
    }
    const bool done = parser.is_done();
    // A chunk header without data yet: nothing to write, read on (the head waits with it).
    if (n == 0 && !done) continue;

    const net::const_buffer data(buffer, n);
    const std::span<const net::const_buffer> pieces(&data, n > 0 ? 1 : 0);
    boost::system::error_code ec;
    if (!(done ? writer.finish(pieces, ec) : writer.write_body(pieces, ec))) {
      // Time spent waiting for the sink (a node slow to take an upload) is not the source's: with a
      // minimum rate, the rate's clock starts that much later.
      const auto waited_from = limits.min_rate != 0 ? io_deadline::clock::now() : io_deadline::clock::time_point{};
      ec = co_await writer.write_rest();
      if (limits.min_rate != 0 && started != io_deadline::clock::time_point{})
        started += io_deadline::clock::now() - waited_from;
    }
    if (ec) co_return result.fail(relay_result::failure::sink, ec);
    result.sink_started = true;
    bytes += n;
    if (done) co_return result;
  }
}

// relay_body_through to a stream: writes `head` (may be empty) with the first body bytes, then the rest
// of the body, re-framed as chunked when `chunked` is set and passed through raw otherwise.
template <bool is_request, typename Source, typename Sink>
task<relay_result> relay_body(Source& source, beast::flat_buffer& source_buffer,
                              http::parser<is_request, http::buffer_body>& parser, Sink& sink, io_deadline& deadline,
                              std::string_view head, bool chunked, char* buffer, std::size_t buffer_size,
                              relay_limits limits, std::uint64_t& bytes, std::string& scratch) {
  body_writer<Sink> writer(sink, deadline, limits.send_timeout, scratch);
  writer.stage(head, chunked);
  co_return co_await relay_body_through(source, source_buffer, parser, std::move(writer), deadline, buffer, buffer_size,
                                        limits, bytes);
}

}  // namespace drawbridge::proxy
