#pragma once
// Where an exchange writes its answer to the client: an HTTP/1.1 connection today (proxy/http1_sink.hpp),
// an HTTP/2 stream next. The exchange decides what to send (the node's head, rewritten; the body, through
// the response filters); the sink decides how it goes on the wire (serialising the head, chunk framing,
// records, frames).
//
// Writes follow one pattern so that the per-response path costs no coroutine frame when the client's
// connection takes the bytes at once (the usual case): write_body and finish try to write now and return
// true when nothing is left to wait for (`ec` then says whether it failed); false means the caller must
// co_await write_rest() before anything else. A response makes two or three virtual calls (write_head,
// then finish, or write_body per relay buffer), next to one system call each: the indirection does not
// show (bench/, small JSON GET).
//
// Thread: the session's worker. Ownership: the session owns the sink and outlives the exchange using it.

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/system/error_code.hpp>
#include <span>

#include "proxy/awaitable.hpp"
#include "proxy/head_writer.hpp"

namespace drawbridge::proxy {

class downstream_sink {
 public:
  virtual ~downstream_sink() = default;

  // Stages the response head (rewritten for the client, `framing` already set in its fields for HTTP/1.1);
  // it leaves with the first body bytes, or with finish() when there are none.
  virtual void write_head(const boost::beast::http::response_header<>& head, body_framing framing) = 0;
  // Body bytes, in at most three pieces, after whatever is staged. See above for the return value.
  virtual bool write_body(std::span<const boost::asio::const_buffer> data, boost::system::error_code& ec) = 0;
  // The last body bytes (maybe none) and the end of the response: a chunked body's last chunk (trailers
  // are not forwarded), an HTTP/2 END_STREAM. A head still staged goes with them.
  virtual bool finish(std::span<const boost::asio::const_buffer> data, boost::system::error_code& ec) = 0;
  // The rest of the last write_body or finish, within the send timeout: the error, a deadline as
  // beast::error::timeout.
  virtual task<boost::system::error_code> write_rest() = 0;
  // The response started and cannot be completed: cut it so that the client cannot take what it got for
  // the whole answer (HTTP/1.1: a body that the close delimits ends with a reset; HTTP/2: RST_STREAM).
  // The connection is not reused afterwards.
  virtual void abort() = 0;
  // "100 Continue": the client may send its body now. Within the send timeout.
  virtual task<boost::system::error_code> send_continue() = 0;
};

// write_body or finish, then write_rest when needed: for callers off the per-request path (one coroutine
// frame per call).
inline task<boost::system::error_code> send_to(downstream_sink& sink, boost::asio::const_buffer data, bool last) {
  boost::system::error_code ec;
  const std::span<const boost::asio::const_buffer> pieces(&data, data.size() > 0 ? 1 : 0);
  if (last ? sink.finish(pieces, ec) : sink.write_body(pieces, ec)) co_return ec;
  co_return co_await sink.write_rest();
}

}  // namespace drawbridge::proxy
