#pragma once
// The HTTP/1.1 downstream sink: the client's connection, a plain socket or our TLS stream. The head is
// serialised into the session's head buffer and goes out with the first body bytes in one write (one
// gather write on a plain socket, one contiguous buffer, hence one record, on TLS).

#include <chrono>
#include <string>

#include "proxy/downstream_sink.hpp"
#include "proxy/io_deadline.hpp"
#include "proxy/stream_write.hpp"

namespace drawbridge::proxy {

// Stream: net_types::socket or tls::tls_socket (instantiated in http1_sink.cpp). One per request; the
// session owns it, and the buffers and the stream it refers to.
template <typename Stream>
class http1_sink final : public downstream_sink {
 public:
  // `head_buffer` receives the serialised head; `scratch` makes gather writes contiguous for TLS.
  http1_sink(Stream& stream, io_deadline& deadline, std::chrono::milliseconds send_timeout, std::string& head_buffer,
             std::string& scratch);

  void write_head(const boost::beast::http::response_header<>& head, body_framing framing) override;
  bool write_body(std::span<const boost::asio::const_buffer> data, boost::system::error_code& ec) override {
    return writer_.write_body(data, ec);
  }
  bool finish(std::span<const boost::asio::const_buffer> data, boost::system::error_code& ec) override {
    return writer_.finish(data, ec);
  }
  task<boost::system::error_code> write_rest() override { return writer_.write_rest(); }
  void abort() override;
  task<boost::system::error_code> send_continue() override;

 private:
  Stream& stream_;
  io_deadline& deadline_;
  std::chrono::milliseconds send_timeout_;
  std::string& head_buffer_;
  body_writer<Stream> writer_;
  bool close_delimited_ = false;  // the body's end is the connection's
};

}  // namespace drawbridge::proxy
