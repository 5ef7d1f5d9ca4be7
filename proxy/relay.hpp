#pragma once
// Streams one message body from a Beast parser to a socket through a fixed buffer, chunk by chunk as it
// arrives: memory per message is the buffer, whatever the body's size. Used in both directions.
// The head (already serialised) goes out in the same gather write as the first body bytes.
// Include only from the .cpp files that relay (it instantiates Beast's parser).

#include <algorithm>
#include <array>
#include <boost/asio/write.hpp>
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
#include <type_traits>

#include "net/io_now.hpp"
#include "proxy/awaitable.hpp"
#include "proxy/body_limits.hpp"
#include "proxy/io_deadline.hpp"
#include "proxy/stream_traits.hpp"
#include "tls/tls_socket.hpp"

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

// Drops the first `sent` bytes of buffers[0..count): what a partial send left to write.
inline void drop_sent(net::const_buffer* buffers, std::size_t count, std::size_t sent) {
  for (std::size_t i = 0; i < count && sent > 0; ++i) {
    const auto take = std::min(sent, buffers[i].size());
    buffers[i] += take;
    sent -= take;
  }
}

// The two halves of every write on the request path, plain functions (no coroutine frame of their own).
// write_now writes at once what the sink takes without waiting: true when nothing is left to wait for
// (all of it went out, or `ec` says why not). Otherwise co_await write_rest for the remainder:
//  - a plain socket (net/io_now.hpp): the bytes that did not fit (write_now dropped what went out);
//  - our TLS stream from clients: the same bytes at the same length, as OpenSSL requires after a write it
//    could not finish (async_write would hand it at most 64 KiB per call; its async_write_some takes all);
//  - Asio's TLS stream to nodes: no write at once, everything through async_write.
// A TLS sink is given one buffer (count 1): gather writes are made contiguous first (see is_tls_stream).
template <typename Sink>
bool write_now(Sink& sink, net::const_buffer* buffers, std::size_t count, boost::system::error_code& ec) {
  ec = {};
  if constexpr (std::is_same_v<Sink, net_types::socket>) {
    std::size_t total = 0;
    for (std::size_t i = 0; i < count; ++i) total += buffers[i].size();
    const auto sent = net_types::send_now(sink, buffers, count, ec);
    if (ec == net::error::would_block) ec = {};
    if (ec || sent == total) return true;
    drop_sent(buffers, count, sent);
    return false;
  } else if constexpr (std::is_same_v<Sink, tls::tls_socket>) {
    if (sink.write_some_now(buffers[0], ec) == buffers[0].size() && !ec) return true;
    if (ec != net::error::would_block && ec != net::error::in_progress) return true;
    ec = {};
    return false;
  } else {
    return false;
  }
}

template <typename Sink>
auto write_rest(Sink& sink, const net::const_buffer* buffers, std::size_t count) {
  if constexpr (std::is_same_v<Sink, tls::tls_socket>)
    return sink.async_write_some(buffers[0], use_tuple);
  else
    return net::async_write(sink, std::span<const net::const_buffer>(buffers, count), use_tuple);
}

// All of `buffer` to `sink`, within `timeout`: the error, a deadline as beast::error::timeout.
template <typename Sink>
task<boost::system::error_code> write_all(Sink& sink, net::const_buffer buffer, io_deadline& deadline,
                                          std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  if (write_now(sink, &buffer, 1, ec)) co_return ec;
  deadline.arm(sink, timeout);
  std::tie(ec, std::ignore) = co_await write_rest(sink, &buffer, 1);
  if (deadline.disarm()) ec = beast::error::timeout;
  co_return ec;
}

// Writes `head` (may be empty) with the first body bytes, then the rest of the body, re-framed as chunked
// when `chunked` is set and passed through raw otherwise (Content-Length or until-close bodies).
// `buffer` is the caller's scratch space; `bytes` counts body bytes that reached the sink.
// Source and Sink: a socket or a TLS stream (the client's side may be either). A TLS sink gets each
// gather write copied into `scratch` first (see is_tls_stream).
template <bool is_request, typename Source, typename Sink>
task<relay_result> relay_body(Source& source, beast::flat_buffer& source_buffer,
                              http::parser<is_request, http::buffer_body>& parser, Sink& sink, io_deadline& deadline,
                              std::string_view head, bool chunked, char* buffer, std::size_t buffer_size,
                              relay_limits limits, std::uint64_t& bytes, std::string& scratch) {
  static constexpr std::string_view crlf = "\r\n";
  static constexpr std::string_view last_chunk = "0\r\n\r\n";
  relay_result result;
  char chunk_line[24];
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
        // The steps of read_body_some written out here (and below, write_all's): this loop runs for every
        // proxied request, and calling them costs a coroutine frame per read and per write (the small-GET
        // benchmark ran about 3% slower that way, close to its noise).
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

    std::array<net::const_buffer, 5> out{};
    std::size_t count = 0;
    if (!head.empty()) out[count++] = net::buffer(head.data(), head.size());
    if (chunked && n > 0) {
      const int len = std::snprintf(chunk_line, sizeof chunk_line, "%zx\r\n", n);
      out[count++] = net::buffer(chunk_line, static_cast<std::size_t>(len));
    }
    if (n > 0) out[count++] = net::buffer(buffer, n);
    if (chunked && n > 0) out[count++] = net::buffer(crlf.data(), crlf.size());
    if (chunked && done) out[count++] = net::buffer(last_chunk.data(), last_chunk.size());

    net::const_buffer* pieces = out.data();
    net::const_buffer contiguous;
    if constexpr (is_tls_stream<Sink>::value) {
      scratch.clear();
      for (std::size_t i = 0; i < count; ++i) scratch.append(static_cast<const char*>(out[i].data()), out[i].size());
      contiguous = net::buffer(scratch);
      pieces = &contiguous;
      count = 1;
    }
    boost::system::error_code ec;
    if (!write_now(sink, pieces, count, ec)) {
      // Time spent waiting for the sink (a node slow to take an upload) is not the source's: with a
      // minimum rate, the rate's clock starts that much later.
      const auto waited_from = limits.min_rate != 0 ? io_deadline::clock::now() : io_deadline::clock::time_point{};
      deadline.arm(sink, limits.send_timeout);
      std::tie(ec, std::ignore) = co_await write_rest(sink, pieces, count);
      if (deadline.disarm()) ec = beast::error::timeout;
      if (limits.min_rate != 0 && started != io_deadline::clock::time_point{})
        started += io_deadline::clock::now() - waited_from;
    }
    if (ec) co_return result.fail(relay_result::failure::sink, ec);
    result.sink_started = true;
    head = {};
    bytes += n;
    if (done) co_return result;
  }
}

}  // namespace drawbridge::proxy
