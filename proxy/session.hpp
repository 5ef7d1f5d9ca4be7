#pragma once
// One downstream connection: reads requests one after the other (pipelined ones wait in the buffer and
// are answered in order), validates and routes each, and hands it to an exchange. Lives on its worker's
// thread; kept alive by its own coroutine (shared_from_this).

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "proxy/awaitable.hpp"
#include "proxy/exchange.hpp"
#include "proxy/request_validator.hpp"

namespace drawbridge::proxy {

class worker;
struct access_record;

class session : public std::enable_shared_from_this<session> {
 public:
  session(worker& w, net_types::socket socket);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  void start();
  // Graceful stop: an idle connection closes now; one with a request in flight closes after it.
  void on_stop();
  // Grace expired: close both sides now.
  void force_close();

 private:
  enum class ending { keep, close, abort };
  enum class header_status { ok, closed, bad };

  task<void> run();
  task<ending> serve_request();
  task<header_status> read_header(verdict& bad, std::size_t& header_end);
  // `started`: when the request header was complete (for the access log's duration).
  task<ending> forward(access_record& record, std::size_t upstream_index,
                       std::chrono::steady_clock::time_point started);
  task<bool> reply_error(unsigned status, std::string_view message, bool close,
                                   std::string_view request_id, unsigned version);
  task<void> lingering_close();
  void skip_leading_empty_lines();
  task<bool> wait_for_request();
  void arm_client_timer(std::chrono::milliseconds limit);
  void disarm_client_timer();

  worker& worker_;
  net_types::stream stream_;
  beast::flat_buffer buffer_;
  std::unique_ptr<request_parser> parser_;  // per request; not held while idle
  upstream_request upstream_request_;
  std::string head_buffer_;  // serialised heads, reused from request to request
  std::string client_ip_;
  std::string request_id_;
  bool idle_ = true;
  // Idle waits and header reads are timed here rather than by the stream: a stream timeout closes the
  // socket, and a slow client is owed a 408 before the close.
  net_types::timer client_timer_;
  bool client_timer_armed_ = false;
  bool client_timed_out_ = false;
  upstream::upstream_connection* upstream_ = nullptr;  // in use by the current exchange, if any
};

}  // namespace drawbridge::proxy
