#pragma once
// One HTTP/2 stream of a client connection (proxy/h2_session.hpp): the request as it arrives in frames,
// and the way back for the answer. The stream is one exchange's downstream: its request body source
// (take_body, proxy/h2_body.hpp) and its sink (the downstream_sink below).
//
// Back-pressure both ways:
//  - request body: the client may send only what the stream's window allows (http2.initial_window_size),
//    and the window opens again only as the exchange hands bytes to the node (take_body: WINDOW_UPDATE).
//  - response body: what the node sends waits here until nghttp2 frames it, which it does only as far as
//    the client's window allows. Past `high_water` bytes waiting, write_body asks the exchange to wait
//    (write_rest), so the node is read no faster than the client reads: a slow reader costs its stream
//    about high_water bytes, and never stalls another stream.
//
// Thread: the connection's worker. Ownership: shared by the session's stream table (until the stream
// closes) and the exchange serving it (until it ends); the session outlives both (h2_connection waits for
// every exchange before it goes).

#include <boost/beast/http/message.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/stream.hpp"
#include "proxy/awaitable.hpp"
#include "proxy/downstream_sink.hpp"
#include "proxy/io_deadline.hpp"

namespace drawbridge::upstream {
struct upstream_connection;
}

namespace drawbridge::proxy {

class h2_session;

class h2_stream final : public downstream_sink {
 public:
  using executor_type = net_types::executor;
  // Response bytes waiting for the client past which the exchange waits.
  static constexpr std::size_t high_water = 64 * 1024;

  h2_stream(h2_session& owner, std::int32_t id, const executor_type& ex);

  std::int32_t id() const { return id_; }
  executor_type get_executor() { return wake_.get_executor(); }
  // Reset by either side, or its connection is gone: nothing more goes either way.
  bool closed() const { return closed_; }
  // The client's connection is TLS (for the version cookie's Secure flag).
  bool secure() const;

  // --- the request, as h2_session fills it in ---
  // One field of the header block. False once the block passed max_header_list_size (RFC 9113 counts a
  // field as its name, its value and 32): from then on nothing more is kept, and the request gets a 431.
  void add_field(std::string_view name, std::string_view value, std::size_t max_list_size);
  bool header_too_large() const { return too_large_; }
  // The request as an HTTP/1.1 header (request line, Host from :authority, the fields, the cookie crumbs
  // joined into one Cookie, and the body's framing), for the parser every request goes through. Empty when
  // the pseudo-header fields cannot make one (RFC 9113 §8.3.1: nghttp2 has checked the rest).
  std::string http1_head() const;
  void body_arrived(const std::uint8_t* data, std::size_t size);
  void request_ended();
  bool request_complete() const { return request_ended_; }
  void set_headers_ended_stream() { headers_ended_stream_ = request_ended_ = true; }

  // --- the request body, for the exchange (proxy/h2_body.hpp) ---
  // Up to `size` bytes of body received and not yet taken; the window opens by as much.
  std::size_t take_body(char* out, std::size_t size);
  bool body_waiting() const { return body_.size() > body_taken_; }
  std::size_t body_buffered() const { return body_.size() - body_taken_; }
  // Waits for something to change (body bytes, the end, a reset, room for the response, the deadline).
  task<void> wait();
  // The stream's deadline: the exchange's reads and writes on either side are timed by it (one at a time).
  io_deadline& deadline() { return deadline_; }
  void set_send_timeout(std::chrono::milliseconds t) { send_timeout_ = t; }
  // io_deadline's target: the deadline ends the wait in progress.
  void cancel(boost::system::error_code&) { wake(); }
  h2_stream& lowest_layer() { return *this; }
  // The node connection the exchange is using (a reset closes it: the node stops working for nobody).
  upstream::upstream_connection*& upstream_slot() { return upstream_; }

  // --- the sink ---
  void write_head(const boost::beast::http::response_header<>& head, body_framing framing) override;
  bool write_body(std::span<const boost::asio::const_buffer> data, boost::system::error_code& ec) override;
  bool finish(std::span<const boost::asio::const_buffer> data, boost::system::error_code& ec) override;
  task<boost::system::error_code> write_rest() override;
  void abort() override;
  task<boost::system::error_code> send_continue() override;
  // The whole answer was handed to the sink (finish), or a reset ended (or will end) the stream.
  bool response_queued() const { return end_ || closed_ || aborted_; }
  // The answer's last frame (DATA, or HEADERS with END_STREAM) went out.
  bool response_sent() const { return response_sent_; }
  void set_response_sent() { response_sent_ = true; }
  // The exchange ended and its answer has yet to go out: the connection is still in use for it.
  bool answer_pending() const { return exchange_done_ && !response_sent_ && !closed_; }
  // When nghttp2 last took response bytes (or the exchange ended): a finished exchange's stream that
  // makes no progress for `send` is reset (h2_session::reset_stalled).
  io_deadline::clock::time_point progress_at() const { return progress_at_; }

  // --- for h2_session ---
  // nghttp2's data source: copies up to `size` waiting response bytes; `eof` at the end of the body.
  // False: nothing waits yet (NGHTTP2_ERR_DEFERRED; resumed when some comes).
  bool read_response(std::uint8_t* out, std::size_t size, std::size_t& copied, bool& eof);
  // The stream closed (reset, or done both ways), or the connection went: wakes the exchange, cuts its
  // node connection. The body bytes never taken, which the connection's window must get back.
  std::size_t on_closed();
  // The answer's fields for nghttp2: :status first, names in lower case, views of head_text_.
  const std::vector<std::pair<std::string_view, std::string_view>>& response_fields() const { return head_fields_; }
  bool exchange_done() const { return exchange_done_; }
  void set_exchange_done() {
    exchange_done_ = true;
    progress_at_ = io_deadline::clock::now();
  }
  void wake() { wake_.cancel(); }

 private:
  bool queue(std::span<const boost::asio::const_buffer> data, bool last, boost::system::error_code& ec);
  void submit();
  std::size_t waiting_out() const { return out_.size() - out_sent_; }

  h2_session& owner_;
  std::int32_t id_;
  net_types::timer wake_;  // never expires: a wait ends when it is cancelled (wake)
  io_deadline deadline_;
  std::chrono::milliseconds send_timeout_{};
  upstream::upstream_connection* upstream_ = nullptr;
  bool closed_ = false;

  // request
  std::string method_, path_, authority_, scheme_, host_;
  std::string fields_;  // "name: value\r\n" per regular field
  std::string cookie_;
  std::size_t list_size_ = 0;
  int hosts_ = 0;  // Host fields
  bool too_large_ = false;
  bool has_length_ = false;
  bool headers_ended_stream_ = false;
  bool request_ended_ = false;
  std::string body_;  // received; [body_taken_, size) not yet taken
  std::size_t body_taken_ = 0;

  // response
  std::string head_text_;  // every name and value of the answer's fields, back to back
  std::vector<std::pair<std::string_view, std::string_view>> head_fields_;
  bool head_staged_ = false;
  bool submitted_ = false;
  bool header_only_ = false;
  bool end_ = false;  // the whole body is in out_
  std::string out_;   // [out_sent_, size) waits for nghttp2
  std::size_t out_sent_ = 0;
  bool exchange_done_ = false;
  bool response_sent_ = false;
  bool aborted_ = false;  // a reset was submitted (abort)
  io_deadline::clock::time_point progress_at_{};
};

}  // namespace drawbridge::proxy
