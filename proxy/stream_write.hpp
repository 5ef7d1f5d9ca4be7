#pragma once
// Writing to a stream on the request path: at once when the stream takes the bytes, else by a timed
// asynchronous write of the rest; and body_writer, the write half of every body relay (head staged with
// the first body bytes, chunk framing, one contiguous buffer per TLS write).

#include <algorithm>
#include <array>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "net/io_now.hpp"
#include "proxy/awaitable.hpp"
#include "proxy/io_deadline.hpp"
#include "proxy/stream_traits.hpp"
#include "tls/tls_socket.hpp"

namespace drawbridge::proxy {

namespace beast = boost::beast;

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

// The write half of a body relay to a stream (the node's, or the client's through http1_sink): stages a
// serialised head that leaves with the first body bytes, frames the body as chunked when asked, and
// writes each piece without waiting when the stream takes it. A TLS stream gets each gather write copied
// into `scratch` first (see is_tls_stream). One per message; not thread-safe (its session's thread).
// Moved into a relay's coroutine frame before its first write (relay_body_through takes it by value).
template <typename Stream>
class body_writer {
 public:
  body_writer(Stream& stream, io_deadline& deadline, std::chrono::milliseconds send_timeout, std::string& scratch)
      : stream_(stream), deadline_(deadline), send_timeout_(send_timeout), scratch_(scratch) {}

  // `head` (may be empty; the caller keeps its bytes until they are written) goes out first; with
  // `chunked`, body bytes are framed as chunks and the end of the body is the last chunk.
  void stage(std::string_view head, bool chunked) {
    head_ = head;
    chunked_ = chunked;
  }
  bool head_pending() const { return !head_.empty(); }

  // Body bytes in at most three pieces (none is fine: the staged head alone). True when nothing is left to wait for
  // (`ec` says whether it failed); false when the stream did not take it all: co_await write_rest().
  bool write_body(std::span<const net::const_buffer> data, boost::system::error_code& ec) {
    return write(data, false, ec);
  }
  // The last body bytes (maybe none) and the end of the body. Same contract as write_body.
  bool finish(std::span<const net::const_buffer> data, boost::system::error_code& ec) { return write(data, true, ec); }

  // The rest of the last write, within the send timeout: the error, a deadline as beast::error::timeout.
  task<boost::system::error_code> write_rest() {
    deadline_.arm(stream_, send_timeout_);
    auto [ec, ignored] = co_await proxy::write_rest(stream_, pieces_, count_);
    if (deadline_.disarm()) ec = beast::error::timeout;
    co_return ec;
  }

 private:
  static constexpr std::size_t max_data_pieces = 3;

  bool write(std::span<const net::const_buffer> data, bool last, boost::system::error_code& ec) {
    static constexpr std::string_view crlf = "\r\n";
    static constexpr std::string_view last_chunk = "0\r\n\r\n";
    ec = {};
    if (data.size() > max_data_pieces) {  // a caller's bug: refused rather than sent in part
      ec = net::error::invalid_argument;
      return true;
    }
    std::size_t n = 0;
    for (const auto& d : data) n += d.size();
    count_ = 0;
    if (!head_.empty()) out_[count_++] = net::buffer(head_.data(), head_.size());
    if (chunked_ && n > 0) {
      const int len = std::snprintf(chunk_line_, sizeof chunk_line_, "%zx\r\n", n);
      out_[count_++] = net::buffer(chunk_line_, static_cast<std::size_t>(len));
    }
    for (const auto& d : data)
      if (d.size() > 0) out_[count_++] = d;
    if (chunked_ && n > 0) out_[count_++] = net::buffer(crlf.data(), crlf.size());
    if (chunked_ && last) out_[count_++] = net::buffer(last_chunk.data(), last_chunk.size());
    head_ = {};
    if (count_ == 0) return true;

    pieces_ = out_.data();
    if constexpr (is_tls_stream<Stream>::value) {
      scratch_.clear();
      for (std::size_t i = 0; i < count_; ++i)
        scratch_.append(static_cast<const char*>(out_[i].data()), out_[i].size());
      contiguous_ = net::buffer(scratch_);
      pieces_ = &contiguous_;
      count_ = 1;
    }
    return write_now(stream_, pieces_, count_, ec);
  }

  Stream& stream_;
  io_deadline& deadline_;
  std::chrono::milliseconds send_timeout_;
  std::string& scratch_;
  std::string_view head_;
  bool chunked_ = false;
  std::array<net::const_buffer, 4 + max_data_pieces> out_{};
  std::size_t count_ = 0;
  net::const_buffer contiguous_;
  net::const_buffer* pieces_ = nullptr;
  char chunk_line_[24];
};

}  // namespace drawbridge::proxy
