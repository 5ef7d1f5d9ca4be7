#pragma once
// One downstream connection: reads requests one after the other (pipelined ones wait in the buffer and
// are answered in order), validates and routes each, and hands it to an exchange. Lives on its worker's
// thread. While it serves requests it is a coroutine; between requests it is parked: the coroutine has
// ended, and a plain readiness wait on the socket is all that holds the session (shared_from_this) until
// the next request starts a new coroutine. An idle keep-alive connection then costs the session object,
// that wait and the socket's epoll state, not a stack of coroutine frames.

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "proxy/awaitable.hpp"
#include "proxy/exchange.hpp"
#include "proxy/io_deadline.hpp"
#include "proxy/proxy_error.hpp"
#include "proxy/request_decision.hpp"
#include "proxy/request_validator.hpp"
#include "proxy/stream_traits.hpp"
#include "tls/server_contexts.hpp"

namespace drawbridge::proxy {

class worker;
template <typename Stream>
class h2_connection;
struct access_record;
struct listener;
struct runtime;

// What the worker needs of every session, whatever its stream: the tick, stopping, and the runtime the
// session serves its current request with.
class session_base {
 public:
  explicit session_base(std::shared_ptr<const runtime> rt) : rt_(std::move(rt)) {}
  virtual ~session_base() = default;
  // The snapshot this session's current (or next) request is served with: taken at accept, and moved on
  // to the worker's current one only between requests (serve_request), so a request never sees two.
  const runtime& rt() const { return *rt_; }
  // Graceful stop: an idle connection closes now; one with a request in flight closes after it.
  virtual void on_stop() = 0;
  // Grace expired: close both sides now.
  virtual void force_close() = 0;
  // The worker's tick: cancels the operation in progress if its deadline has passed.
  virtual void check_deadline(io_deadline::clock::time_point now) = 0;

 protected:
  std::shared_ptr<const runtime> rt_;
};

// What a request needs beyond its parser, held only while the connection is busy: an idle connection
// gives it back to its worker's spares (see session.cpp), so that it carries none of it.
struct request_state {
  upstream_request forwarded;  // the node's copy of the request header
  std::string head;            // serialised heads
  std::string tls_scratch;     // contiguous copies of gather writes to TLS streams (stream_write.hpp)
  std::string filtered;        // a response filter's output (gzip)
  std::string id;              // the request id

  // Out of line (session.cpp): clang 14 leaves the request header's destructor undefined when only the
  // explicit instantiations of session<> use it (a link error in the sanitizer build).
  request_state() = default;
  request_state(const request_state&) = delete;
  request_state& operator=(const request_state&) = delete;
  ~request_state();
  void clear_forwarded();
};

// Stream: net_types::socket (plain HTTP) or tls::tls_socket (HTTPS; the handshake comes first).
template <typename Stream>
class session final : public session_base, public std::enable_shared_from_this<session<Stream>> {
 public:
  // `contexts`: for a TLS session, the listener's TLS contexts it started with (kept alive for its SNI).
  // `peer`: the client's address as accept() gave it.
  // `rt`: the runtime the session starts with, which owns `l`.
  session(worker& w, std::shared_ptr<const runtime> rt, Stream stream, const net::ip::tcp::endpoint& peer,
          const listener& l, std::shared_ptr<const tls::server_contexts> contexts);
  ~session() override;
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  void start();
  void on_stop() override;
  void force_close() override;
  void check_deadline(io_deadline::clock::time_point now) override;

 private:
  static constexpr bool is_tls = is_tls_stream<Stream>::value;
  // After a request: serve the next, close gracefully, or close at once (a response cut short: the sink
  // made it a reset when the close delimits the body).
  enum class ending { keep, close, abort };
  enum class header_status { ok, closed, bad };
  // What read_or_park found: a request's first bytes, nothing yet (parked: the wait now owns the
  // session), an end, or a TLS stream that must write before it can read.
  enum class arrival { bytes, parked, closed, tls_write_first };

  // `fresh`: a new connection (TLS handshakes first); otherwise one woken from parking.
  void spawn(bool fresh);
  task<void> run(bool fresh);
  task<bool> handshake();
  // HTTP/2 (ALPN h2, or the h2c preface on a plain listener): the connection is h2_connection's from here
  // on, with the bytes already read.
  task<void> serve_h2();
  bool h2_negotiated();
  // ALPN chose "acme-tls/1": a TLS-ALPN-01 validation, which ends with the handshake.
  bool acme_validation();
  bool h2c_preface() const;
  task<ending> serve_request();
  task<header_status> read_header(proxy_error& bad, std::size_t& header_end);
  std::optional<proxy_error> validate(std::size_t header_end, access_record& record, unsigned& version);
  request_decision decide(access_record& record);
  // `started`: when the request header was complete (for the access log's duration).
  task<ending> refuse(access_record& record, std::chrono::steady_clock::time_point started, const proxy_error& error,
                      unsigned version);
  task<ending> forward(access_record& record, upstream::upstream_group& upstream,
                       std::chrono::steady_clock::time_point started);
  // Between requests: moves on to the worker's current runtime, if it changed.
  void follow_worker_runtime();
  // What depends on the runtime and is decided for the connection rather than per request. `peer`: the
  // client's address (not kept: an idle connection's size is what its session holds).
  void apply_runtime(const net::ip::address& peer);
  task<bool> reply_error(const proxy_error& error, bool close, std::string_view request_id, unsigned version);
  // drawbridge's own plain-text answer: a redirect (with `location`) or an ACME challenge's.
  task<bool> reply_text(unsigned status, const std::string& location, const std::string& body, bool close,
                        unsigned version);
  task<bool> write_own_reply(const boost::beast::http::response_header<>& head, std::string_view body);
  task<void> lingering_close();
  void finish(const access_record& record, const upstream::upstream_group* upstream, const upstream::node* n);
  void skip_leading_empty_lines(int& budget);
  void arm_idle_deadline(bool woken);
  bool closes_after_own_reply() const;
  bool client_is_done() const;
  arrival read_or_park(bool woken);
  void on_readable(const boost::system::error_code& ec);
  task<bool> read_after_tls_write();
  request_state& state();
  void release_state();

  worker& worker_;
  Stream stream_;
  // The listener it was accepted on, or the changed listener of the same address and kind it moved to:
  // always one of rt_'s (follow_worker_runtime keeps it so), which holds it.
  const listener* listener_;
  // A reload removed the listener, or changed its kind (TLS or plain): this request is the last one, served
  // on the runtime that has the listener, and answered with Connection: close.
  bool listener_gone_ = false;
  std::shared_ptr<const tls::server_contexts> contexts_;
  beast::flat_buffer buffer_;
  std::unique_ptr<request_parser> parser_;  // per request; not held while idle
  std::unique_ptr<request_state> state_;    // while busy; not held while idle
  std::string client_ip_;                   // the client's address as text (a v4-mapped one as v4)
  bool idle_ = true;
  bool served_ = false;        // a request header was read on this connection
  bool peer_trusted_ = false;  // the peer is in trusted_proxies (header_rewrite.hpp)
  // When the request now arriving began to (a TLS record's first bytes); the epoch when none is.
  io_deadline::clock::time_point header_since_{};
  io_deadline deadline_;                               // times whichever read or write is in progress, on either side
  upstream::upstream_connection* upstream_ = nullptr;  // in use by the current exchange, if any
  std::unique_ptr<h2_connection<Stream>> h2_;          // an HTTP/2 connection's streams and their exchanges
};

}  // namespace drawbridge::proxy
