#include "proxy/http1_sink.hpp"

#include "tls/tls_socket.hpp"

#include "proxy/head_writer.hpp"

namespace drawbridge::proxy {

template <typename Stream>
http1_sink<Stream>::http1_sink(Stream& stream, io_deadline& deadline, std::chrono::milliseconds send_timeout,
                               std::string& head_buffer, std::string& scratch)
    : stream_(stream),
      deadline_(deadline),
      send_timeout_(send_timeout),
      head_buffer_(head_buffer),
      writer_(stream, deadline, send_timeout, scratch) {}

template <typename Stream>
void http1_sink<Stream>::write_head(const boost::beast::http::response_header<>& head, body_framing framing) {
  write_response_head(head, head_buffer_);
  writer_.stage(head_buffer_, framing == body_framing::chunked);
  close_delimited_ = framing == body_framing::until_close;
}

// A body the close delimits, cut short: a reset rather than a clean close, so that the client (an
// HTTP/1.0 one, reading to the close) cannot take what it got for the whole answer. Other framings show
// the cut themselves, and a plain close lets what the kernel still holds reach the client.
template <typename Stream>
void http1_sink<Stream>::abort() {
  if (!close_delimited_) return;
  boost::system::error_code ignored;
  stream_.lowest_layer().set_option(net::socket_base::linger(true, 0), ignored);
}

template <typename Stream>
task<boost::system::error_code> http1_sink<Stream>::send_continue() {
  static constexpr std::string_view go_ahead = "HTTP/1.1 100 Continue\r\n\r\n";
  return write_all(stream_, net::buffer(go_ahead), deadline_, send_timeout_);
}

// The two kinds of client connection.
template class http1_sink<net_types::socket>;
template class http1_sink<tls::tls_socket>;

}  // namespace drawbridge::proxy
