#include "proxy/session.hpp"

#include "proxy/field_text.hpp"
#include "tls/tls_socket.hpp"

#include <spdlog/spdlog.h>

#include <sys/socket.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <vector>

#include "net/io_now.hpp"
#include "net/readiness.hpp"
#include "net/spawn_logged.hpp"
#include "proxy/access_log.hpp"
#include "proxy/body_limits.hpp"
#include "proxy/h2_connection.hpp"
#include "proxy/head_writer.hpp"
#include "proxy/header_rewrite.hpp"
#include "proxy/http1_sink.hpp"
#include "proxy/listener.hpp"
#include "proxy/request_decision.hpp"
#include "proxy/request_id.hpp"
#include "proxy/route_table.hpp"
#include "proxy/stream_write.hpp"
#include "proxy/worker.hpp"

namespace drawbridge::proxy {

namespace {

constexpr std::size_t read_chunk = 8 * 1024;

}  // namespace

template <typename Stream>
session<Stream>::session(worker& w, std::shared_ptr<const runtime> rt, Stream stream,
                         const net::ip::tcp::endpoint& peer, const listener& l,
                         std::shared_ptr<const tls::server_contexts> contexts)
    : session_base(std::move(rt)),
      worker_(w),
      stream_(std::move(stream)),
      listener_(&l),
      contexts_(std::move(contexts)) {
  assert(std::any_of(rt_->listeners.begin(), rt_->listeners.end(), [&](const auto& x) { return x.get() == &l; }) &&
         "a session's listener is one of its runtime's");
  net::ip::address address = peer.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
  client_ip_ = address.to_string();
  apply_runtime(address);
  worker_.add_session(this);
}

template <typename Stream>
void session<Stream>::apply_runtime(const net::ip::address& peer) {
  // Every byte a client sends lands here first: capped, so that no client can grow it without bound.
  // Never below what it holds already (pipelined bytes, when a new runtime lowered the limits): those
  // are checked against the new limits as their header is read.
  buffer_.max_size(std::max(client_buffer_cap(rt().config.limits, read_chunk), buffer_.size() + read_chunk));
  peer_trusted_ = is_trusted_peer(rt().config.trusted_proxies, peer);
}

template <typename Stream>
void session<Stream>::follow_worker_runtime() {
  // The worker looks at the source first (one atomic load), so that a request that starts just after a
  // reload answered is served with the new config, not at the worker's next tick.
  worker_.follow_source();
  const auto& current = worker_.current_runtime();
  if (current == rt_ || listener_gone_) return;  // the usual case: one comparison per request
  // The listener of this address in the new runtime: the same object, or a changed one of the same kind
  // (its redirect and HSTS settings apply from now on). None, or one of the other kind: this connection
  // stays on the runtime that has its listener for this request, and closes after it.
  const auto& listeners = current->listeners;
  const auto it = find_listener(listeners, listener_->name);
  if (it == listeners.end() || (*it)->tls() != listener_->tls()) {
    listener_gone_ = true;
    return;
  }
  listener_ = it->get();
  rt_ = current;
  boost::system::error_code ec;
  const auto peer = net::ip::make_address(client_ip_, ec);  // made by to_string(): it parses
  apply_runtime(peer);
  if (ec) peer_trusted_ = false;
}

template <typename Stream>
session<Stream>::~session() {
  worker_.remove_session(this);
  worker_.connection_closed(*listener_, client_ip_);
}

template <typename Stream>
void session<Stream>::start() {
  spawn(true);
}

template <typename Stream>
void session<Stream>::spawn(bool fresh) {
  // Nothing should escape run(); if something does (a bug, an allocation failure), it is logged and the
  // connection closed, instead of vanishing with the coroutine and leaving the client without an answer.
  // (Not spawn_logged: this runs for every request that wakes a parked connection, and its completion
  // must cost no allocation.)
  net::co_spawn(
      stream_.get_executor(), [self = this->shared_from_this(), fresh] { return self->run(fresh); },
      [self = this->shared_from_this()](const std::exception_ptr& escaped) {
        if (!escaped) return;
        spdlog::error("connection from {}: {}", self->client_ip_, net_types::describe_exception(escaped));
        boost::system::error_code ignored;
        self->stream_.lowest_layer().close(ignored);
      });
}

template <typename Stream>
void session<Stream>::on_stop() {
  if (h2_) return h2_->go_away();
  boost::system::error_code ignored;
  if (idle_) stream_.lowest_layer().cancel(ignored);
}

template <typename Stream>
void session<Stream>::force_close() {
  if (h2_) h2_->force_close();
  boost::system::error_code ignored;
  stream_.lowest_layer().close(ignored);
  if (upstream_) upstream_->socket.close(ignored);
}

template <typename Stream>
void session<Stream>::check_deadline(io_deadline::clock::time_point now) {
  if (h2_) h2_->check_deadlines(now);
  deadline_.check(now);
}

template <typename Stream>
bool session<Stream>::h2_negotiated() {
  if constexpr (is_tls) {
    const unsigned char* protocol = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(stream_.native_handle(), &protocol, &length);
    return length == 2 && protocol[0] == 'h' && protocol[1] == '2';
  } else {
    return false;
  }
}

template <typename Stream>
bool session<Stream>::acme_validation() {
  if constexpr (is_tls) {
    const unsigned char* protocol = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(stream_.native_handle(), &protocol, &length);
    return std::string_view(reinterpret_cast<const char*>(protocol), length) == "acme-tls/1";
  } else {
    return false;
  }
}

// A plain listener with h2c: the HTTP/2 preface begins "PRI * HTTP/2.0" (RFC 9113 §3.4), which is no
// HTTP/1.1 request (PRI is reserved for exactly this). nghttp2 checks the rest of it.
template <typename Stream>
bool session<Stream>::h2c_preface() const {
  if constexpr (is_tls) {
    return false;
  } else {
    constexpr std::string_view start = "PRI * ";
    const auto data = buffer_.data();
    return listener_->config.h2c && !served_ && data.size() >= start.size() &&
           std::string_view(static_cast<const char*>(data.data()), start.size()) == start;
  }
}

template <typename Stream>
task<void> session<Stream>::serve_h2() {
  idle_ = false;
  served_ = true;
  parser_.reset();
  release_state();
  // What was read already (the h2c preface and what came with it) goes to the HTTP/2 session first.
  const auto early = buffer_.data();
  h2_ = std::make_unique<h2_connection<Stream>>(worker_, stream_, rt_, *listener_, client_ip_,
                                                std::string(static_cast<const char*>(early.data()), early.size()));
  buffer_.consume(early.size());
  buffer_.shrink_to_fit();
  co_await h2_->run();
  h2_.reset();
}

// Serves requests for as long as they keep coming; returns when the connection goes idle (parked: see
// read_or_park) or ends.
template <typename Stream>
task<void> session<Stream>::run(bool fresh) {
  if (fresh && !co_await handshake()) {
    boost::system::error_code ignored;
    stream_.lowest_layer().close(ignored);
    co_return;
  }
  if (fresh && acme_validation()) {
    // A CA validating TLS-ALPN-01 has seen the challenge certificate in the handshake: that was all
    // (RFC 8737 §3: no application data on such a connection).
    boost::system::error_code ignored;
    stream_.lowest_layer().close(ignored);
    co_return;
  }
  if (fresh && h2_negotiated()) {
    co_await serve_h2();
    boost::system::error_code ignored;
    stream_.lowest_layer().close(ignored);
    co_return;
  }
  bool woken = !fresh;  // the first wait of a woken connection resumes the deadline it was parked with
  for (;;) {
    // A CRLF left after the last request is no request begun: the connection may go idle (read_header
    // skips those that come with a request).
    int empty_lines = 4;
    skip_leading_empty_lines(empty_lines);
    if (buffer_.size() == 0) {
      const arrival next = read_or_park(woken);
      if (next == arrival::parked) co_return;  // on_readable carries on
      if (next == arrival::closed) break;
      if (next == arrival::tls_write_first && !co_await read_after_tls_write()) break;
    }
    woken = false;
    if (h2c_preface()) {
      co_await serve_h2();
      break;
    }
    const ending end = co_await serve_request();
    if (end == ending::keep) continue;
    if (end == ending::close) co_await lingering_close();
    break;
  }
  boost::system::error_code ignored;
  stream_.lowest_layer().close(ignored);
}

// A TLS session starts with the handshake, within client_header (a client that stalls mid-handshake is
// dropped like one that stalls mid-header). Failures are counted, and logged at debug level only: on a
// public port they are mostly scanners.
template <typename Stream>
task<bool> session<Stream>::handshake() {
  if constexpr (!is_tls) {
    co_return true;
  } else {
    deadline_.arm(stream_, rt().config.timeouts.client_header);
    auto [ec] = co_await stream_.async_handshake(net::ssl::stream_base::server, use_tuple);
    const bool timed_out = deadline_.disarm();
    if (ec || timed_out) {
      listener_->handshake_failures.fetch_add(1, std::memory_order_relaxed);
      spdlog::debug("TLS handshake with {} failed: {}", client_ip_, timed_out ? "timed out" : ec.message());
      co_return false;
    }
    listener_->handshakes.fetch_add(1, std::memory_order_relaxed);
    if (SSL_session_reused(stream_.native_handle()))
      listener_->resumed.fetch_add(1, std::memory_order_relaxed);
    else
      listener_->full.fetch_add(1, std::memory_order_relaxed);
    co_return true;
  }
}

// RFC 9112 §2.2: a robust server ignores empty lines before a request line (old clients send a CRLF
// after a body). A few, not a stream of them: that would be a header that never ends.
template <typename Stream>
void session<Stream>::skip_leading_empty_lines(int& budget) {
  while (budget > 0 && buffer_.size() >= 2) {
    const auto* p = static_cast<const char*>(buffer_.data().data());
    if (p[0] != '\r' || p[1] != '\n') return;
    buffer_.consume(2);
    --budget;
  }
}

namespace {
// Request states given back by idle connections, kept per worker thread for the next busy one (their
// strings keep their capacity): a few dozen at most, whatever the number of connections.
constexpr std::size_t spare_states_kept = 32;
thread_local std::vector<std::unique_ptr<request_state>> spare_states;
}  // namespace

request_state::~request_state() = default;
void request_state::clear_forwarded() { forwarded = {}; }

template <typename Stream>
request_state& session<Stream>::state() {
  if (!state_) {
    if (spare_states.empty()) {
      state_ = std::make_unique<request_state>();
    } else {
      state_ = std::move(spare_states.back());
      spare_states.pop_back();
    }
  }
  return *state_;
}

template <typename Stream>
void session<Stream>::release_state() {
  if (!state_) return;
  if (spare_states.size() >= spare_states_kept) {
    state_.reset();
    return;
  }
  state_->clear_forwarded();
  // A large response leaves a large contiguous copy behind: not kept.
  for (auto* s : {&state_->head, &state_->tls_scratch, &state_->filtered}) {
    if (s->capacity() > 16 * 1024)
      std::string().swap(*s);
    else
      s->clear();
  }
  state_->id.clear();
  spare_states.push_back(std::move(state_));
}

// Between requests, the state most keep-alive connections spend their life in. Reads first, without
// waiting: on a busy connection the next request is usually there already (on the socket, or for TLS
// possibly decrypted or buffered inside OpenSSL), and one read costs less than asking whether something
// came and then reading it. Except when the plain socket is known to be empty (net/readiness.hpp: the
// request's own read emptied it and epoll has reported nothing since), which saves the read that would
// find nothing. When nothing came, the connection is parked: no read buffer, no parser, no
// request state and no coroutine, only the session, its socket, one pending readiness wait and, for TLS,
// OpenSSL's connection state (measured with bench/idle_memory.py).
template <typename Stream>
typename session<Stream>::arrival session<Stream>::read_or_park(bool woken) {
  idle_ = true;
  parser_.reset();
  boost::system::error_code ec;
  std::size_t n = 0;
  if constexpr (is_tls) {
    // The same for TLS, when OpenSSL holds nothing read ahead either. (Its BIO reads as recv_now does.)
    if (!SSL_has_pending(stream_.native_handle()) && net_types::known_empty(stream_.lowest_layer()))
      ec = net::error::would_block;
    else
      n = stream_.read_some_now(buffer_.prepare(read_chunk), ec);
  } else if (net_types::known_empty(stream_)) {
    // The last read emptied the socket, and epoll (watching for the client's close too) has reported
    // nothing since: a read now would find nothing.
    ec = net::error::would_block;
  } else {
    n = net_types::recv_now(stream_, buffer_.prepare(read_chunk), ec);
    // A signal says nothing of what is there: nothing was marked, so the wait below ends at once.
    if (ec == net::error::interrupted) ec = net::error::would_block;
  }
  if (!ec) {
    buffer_.commit(n);
    idle_ = false;
    return arrival::bytes;
  }
  if constexpr (is_tls) {
    if (ec == net::error::in_progress) return arrival::tls_write_first;  // OpenSSL must write first
  }
  if (ec != net::error::would_block) return arrival::closed;
  // Stopping, and the idle connections' last call is over (worker::begin_stop): nothing came, so the
  // connection closes rather than parks. (What did come is served above, with Connection: close.)
  if (worker_.closing_idle()) return arrival::closed;
  // Nothing yet: give the buffers back, and wait for readability without one. The read that just found the
  // socket empty marked it drained (recv_now, or the TLS BIO), so the wait is queued for epoll's next
  // report without a system call; bytes that arrive from now on are reported (net/readiness.hpp).
  // A connection that goes idle once will likely do so again: from now on epoll reports the client's
  // close as such, so that a short read marks the socket drained too (one system call per connection).
  net_types::watch_peer_close(stream_.lowest_layer());
  release_state();
  buffer_.shrink_to_fit();
  arm_idle_deadline(woken);
  net_types::async_wait_readable(
      stream_.lowest_layer(),
      [self = this->shared_from_this()](const boost::system::error_code& wait_ec) { self->on_readable(wait_ec); });
  return arrival::parked;
}

// A parked connection's wait ended: a request is coming (a new coroutine serves it), or the connection
// ends here: an idle timeout, a shutdown (on_stop cancels idle waits) or a dead socket. The session goes
// with the wait's handler, which held the last reference.
template <typename Stream>
void session<Stream>::on_readable(const boost::system::error_code& ec) {
  // A wait that completed without error has bytes waiting, even at the end of a stop's last call: they are
  // served (with Connection: close), since closing now would reset the client's request.
  const bool timed_out = deadline_.disarm();
  if (ec || timed_out) {
    boost::system::error_code ignored;
    stream_.lowest_layer().close(ignored);
    return;
  }
  idle_ = false;
  spawn(false);
}

// How long a connection may wait for its next request. Absolute from the moment it went idle: a wake
// that brought no whole byte of a request resumes the same deadline. A fresh connection waits
// client_header for its first request (a silent connection is no idle keep-alive one), later ones
// client_idle. A TLS record that has begun to arrive is a request that has begun: from its first bytes
// on, client_header runs, once, to the end of that request's header (read_header goes on with it).
template <typename Stream>
void session<Stream>::arm_idle_deadline(bool woken) {
  const auto& timeouts = rt().config.timeouts;
  if constexpr (is_tls) {
    if (SSL_has_pending(stream_.native_handle()) && header_since_ == io_deadline::clock::time_point{}) {
      header_since_ = io_deadline::clock::now();
      deadline_.arm_until(stream_, header_since_ + timeouts.client_header);
      return;
    }
  }
  if (woken)
    deadline_.resume(stream_);
  else
    deadline_.arm(stream_, served_ ? timeouts.client_idle : timeouts.client_header);
}

// OpenSSL has to write before it can read (a key update, say): the stream's own read does both.
template <typename Stream>
task<bool> session<Stream>::read_after_tls_write() {
  arm_idle_deadline(false);
  auto [ec, got] = co_await stream_.async_read_some(buffer_.prepare(read_chunk), use_tuple);
  const bool timed_out = deadline_.disarm();
  idle_ = false;
  if (ec || timed_out) co_return false;
  buffer_.commit(got);
  co_return true;
}

template <typename Stream>
task<typename session<Stream>::header_status> session<Stream>::read_header(proxy_error& bad, std::size_t& header_end) {
  const auto& config = rt().config;
  // client_header runs from the first bytes of a request (for TLS, of the record that carries them) to
  // the end of its header.
  if (header_since_ == io_deadline::clock::time_point{}) header_since_ = io_deadline::clock::now();
  const auto header_deadline = header_since_ + config.timeouts.client_header;
  header_since_ = {};
  served_ = true;
  const std::size_t max_header = config.limits.max_header_size;
  std::size_t scanned = 0;
  int empty_lines = 4;
  for (;;) {
    if (scanned == 0) skip_leading_empty_lines(empty_lines);
    const auto data = buffer_.data();
    const auto scan = scan_header({static_cast<const char*>(data.data()), data.size()}, scanned);
    if (!scan.bad.ok()) {
      bad = refusal(scan.bad.status, scan.bad.reason);
      co_return header_status::bad;
    }
    if (scan.end > max_header || (scan.end == 0 && buffer_.size() >= max_header)) {
      bad = make_error(error_kind::header_too_large);
      co_return header_status::bad;
    }
    if (scan.end != 0) {
      header_end = scan.end;
      co_return header_status::ok;
    }
    scanned = scan.scanned;
    deadline_.arm_until(stream_, header_deadline);
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(read_chunk), use_tuple);
    if (deadline_.disarm()) {
      bad = make_error(error_kind::header_timeout);
      co_return header_status::bad;
    }
    if (ec) co_return header_status::closed;
    buffer_.commit(n);
  }
}

// One request in three phases: read and validate its header, decide what to do with it (refuse, redirect,
// answer 404, or which upstream), and forward it. Only reading and answering wait on I/O; validating and
// deciding are plain functions.
template <typename Stream>
task<typename session<Stream>::ending> session<Stream>::serve_request() {
  follow_worker_runtime();  // the header is read under the limits in force now
  proxy_error bad;
  std::size_t header_end = 0;
  const auto status = co_await read_header(bad, header_end);
  if (status == header_status::closed) co_return ending::abort;
  // A kept-alive connection may have waited through a reload: the request is served with the runtime in
  // force when its header arrived, not the one of when the connection began to wait.
  follow_worker_runtime();

  const auto started = std::chrono::steady_clock::now();
  access_record record;
  record.time = std::chrono::system_clock::now();
  record.client = client_ip_;
  auto& state = this->state();
  state.id = worker_.ids().next();
  record.request_id = state.id;

  if (status == header_status::bad) co_return co_await refuse(record, started, bad, 11);
  unsigned version = 11;  // the request's, once its header parses
  if (const auto refused = validate(header_end, record, version))
    co_return co_await refuse(record, started, *refused, version);

  const auto next = decide(record);
  switch (next.what) {
    case request_decision::action::refuse:
      co_return co_await refuse(record, started, next.error, version);
    case request_decision::action::redirect: {
      record.status = 308;
      const bool close = closes_after_own_reply();
      const bool written = co_await reply_text(308, next.location, "Moved to " + next.location + "\n", close, version);
      record.duration_ms = ms_since(started);
      finish(record, nullptr, nullptr);
      co_return !written ? ending::abort : close ? ending::close : ending::keep;
    }
    case request_decision::action::acme_answer: {
      record.status = 200;
      const bool close = closes_after_own_reply();
      const bool written = co_await reply_text(200, {}, next.body, close, version);
      record.duration_ms = ms_since(started);
      finish(record, nullptr, nullptr);
      co_return !written ? ending::abort : close ? ending::close : ending::keep;
    }
    case request_decision::action::no_route: {
      const auto no_route = make_error(error_kind::no_route);
      record.status = status_of(no_route);
      const bool close = closes_after_own_reply();
      co_await reply_error(no_route, close, state.id, version);
      record.duration_ms = ms_since(started);
      finish(record, nullptr, nullptr);
      co_return close ? ending::close : ending::keep;
    }
    case request_decision::action::forward:
      break;
  }
  co_return co_await forward(record, *next.upstream, started);
}

// Phase one, after the header's bytes are in: parses them and checks the framing rules. Sets `version`
// once the request line parses; the refusal, if any.
template <typename Stream>
std::optional<proxy_error> session<Stream>::validate(std::size_t header_end, access_record& record, unsigned& version) {
  if (const auto v = check_version({static_cast<const char*>(buffer_.data().data()), header_end}); !v.ok())
    return refusal(v.status, v.reason);
  parser_ = std::make_unique<request_parser>();
  parser_->header_limit(static_cast<std::uint32_t>(header_end + 1));
  parser_->body_limit(boost::none);  // checked by decide, then set for the body
  boost::system::error_code ec;
  try {
    parser_->put(net::buffer(buffer_.data().data(), header_end), ec);
  } catch (const std::length_error&) {
    // One field past Beast's own limit (65,533 bytes), possible only with a max_header_size that config
    // validation would have refused.
    return make_error(error_kind::header_too_large, false, "request header field too large");
  }
  if (ec || !parser_->is_header_done()) {
    spdlog::debug("{}: malformed request from {}: {}", state_->id, client_ip_, ec.message());
    return make_error(error_kind::malformed_request);
  }
  limit_chunk_extensions(*parser_);
  buffer_.consume(header_end);

  auto& req = parser_->get();
  record.method = req.method_string();
  record.path = req.target();
  version = req.version() == 10 ? 10 : 11;
  if (const auto v = check_request_header(req); !v.ok()) return refusal(v.status, v.reason);

  if (const auto id = req["X-Request-Id"]; is_valid_uuid(id)) {
    state_->id.assign(id.data(), id.size());
    record.request_id = state_->id;
  }
  return std::nullopt;
}

// Phase two (proxy/request_decision.hpp).
template <typename Stream>
request_decision session<Stream>::decide(access_record& record) {
  return decide_request(rt(), listener_->config, *parser_, record);
}

// A request refused before it was forwarded: the answer, then the connection closes.
template <typename Stream>
task<typename session<Stream>::ending> session<Stream>::refuse(access_record& record,
                                                               std::chrono::steady_clock::time_point started,
                                                               const proxy_error& error, unsigned version) {
  record.status = status_of(error);
  co_await reply_error(error, /*close=*/true, state().id, version);
  record.duration_ms = ms_since(started);
  if (const auto label = describe(error.kind).rejected)
    worker_.stats().rejected[static_cast<std::size_t>(*label)].add();
  finish(record, nullptr, nullptr);
  co_return ending::close;
}

template <typename Stream>
task<typename session<Stream>::ending> session<Stream>::forward(access_record& record, upstream::upstream_group& group,
                                                                std::chrono::steady_clock::time_point started) {
  auto& req = parser_->get();
  record.upstream = group.name();
  auto& state = *state_;
  auto& forwarded = state.forwarded;

  http1_sink<Stream> sink(stream_, deadline_, rt().config.timeouts.send, state.head, state.tls_scratch);
  exchange_request<Stream> request{
      .downstream = stream_,
      .sink = sink,
      .deadline = deadline_,
      .downstream_buffer = buffer_,
      .parser = *parser_,
      .forwarded = forwarded,
      .head_buffer = state.head,
      .tls_scratch = state.tls_scratch,
      .filtered = state.filtered,
      .rt = rt(),
      .upstream = group,
      .request_id = state.id,
      .client_version = req.version() == 10 ? 10u : 11u,
      .client_keep_alive = parser_->keep_alive() && !listener_gone_,
      .head = req.method() == http::verb::head,
      .idempotent = is_idempotent(req.method()),
      .expect_continue = iequals_ascii(req[http::field::expect], "100-continue") && req.version() == 11,
      .chunked_body = parser_->chunked(),
      .hsts = is_tls && listener_->config.tls ? std::string_view(listener_->config.tls->hsts) : std::string_view()};

  // A WebSocket upgrade is forwarded as one (Connection and Upgrade are otherwise hop-by-hop, removed),
  // offering the node WebSocket alone: other tokens (h2c, say) would let the node switch the client's
  // connection to a protocol drawbridge does not check.
  if (parser_->upgrade() && req.method() == http::verb::get) {
    for (const auto token : http::token_list{req[http::field::upgrade]})
      if (iequals_ascii(token, "websocket")) request.upgrade = true;
  }
  request.owner = this;

  // The node's copy of the header, moved out of the parser (which keeps only its framing flags).
  forwarded = std::move(req.base());
  forwarded.version(11);
  forwarded.erase(http::field::expect);
  rewrite_request(forwarded, forwarding{client_ip_, is_tls ? "https" : "http", state.id, peer_trusted_});
  frame_for_node(forwarded, *parser_);
  if (request.upgrade) {
    forwarded.set(http::field::connection, "upgrade");
    forwarded.set(http::field::upgrade, "websocket");
  }
  record.method = forwarded.method_string();
  record.path = forwarded.target();

  auto relay_buffer = worker_.take_relay_buffer();
  exchange<Stream> ex(worker_, request, upstream_, relay_buffer.get(), worker::relay_buffer_size);
  const exchange_outcome out = co_await ex.run();
  worker_.give_relay_buffer(std::move(relay_buffer));

  record_outcome(record, out);
  // A complete response on a connection that may not be kept closes gracefully (the client may have
  // pipelined more); a response cut short ends the connection at once (the exchange aborted it on the sink,
  // with a reset when the close is what ends its body).
  ending end = out.keep_downstream ? ending::keep : out.response_complete ? ending::close : ending::abort;
  if (!out.response_started) {
    if (!answered(out.error)) {
      end = ending::abort;  // the client went away; nobody to answer
    } else {
      // Our own error: the connection survives only if the request body was fully read.
      const bool close = closes_after_own_reply();
      const bool written = co_await reply_error(out.error, close, state.id, request.client_version);
      end = !written ? ending::abort : close ? ending::close : ending::keep;
      if (out.status >= 500) {
        // At most one a second per node (per upstream when no node took it): a failing node would
        // otherwise cost a line per request. The path keeps its query only if the access log does.
        const auto now = std::chrono::steady_clock::now();
        const auto held_back = out.node ? out.node->warning_due(now, std::chrono::seconds(1))
                                        : group.warning_due(now, std::chrono::seconds(1));
        if (held_back)
          spdlog::warn("{}: {} {}: {}{}", state.id, out.status,
                       loggable_path(record.path, rt().config.access_log.query), reason_of(out.error),
                       upstream::suppressed_note(*held_back));
      }
    }
  }
  record.duration_ms = ms_since(started);
  finish(record, &group, out.node.get());
  co_return end;
}

// Every request ends here: one access-log line, and its counts.
template <typename Stream>
void session<Stream>::finish(const access_record& record, const upstream::upstream_group* upstream,
                             const upstream::node* n) {
  rt_->log->write(record);
  worker_.count_request(record, upstream, n);
}

// After an answer of our own (not the node's), the connection survives only if the request body was read
// to its end, the client wants to keep it, and we are not shutting down.
template <typename Stream>
bool session<Stream>::closes_after_own_reply() const {
  return !parser_->is_done() || !parser_->keep_alive() || worker_.stopping() || listener_gone_;
}

// The client asked for the close, its whole request was read and nothing more came: it will send nothing
// else, so closing at once cannot reset a response it has yet to read. Otherwise (a refused upload, a
// client that may have pipelined) the close lingers.
template <typename Stream>
bool session<Stream>::client_is_done() const {
  if (!parser_ || !parser_->is_done() || parser_->keep_alive() || buffer_.size() != 0) return false;
  auto& stream = const_cast<Stream&>(stream_);
  if constexpr (is_tls)
    if (SSL_has_pending(stream.native_handle())) return false;  // records read ahead inside OpenSSL
  // Nor in the kernel: bytes that arrived since the last read would make the close a reset.
  char byte = 0;
  const auto n = ::recv(stream.lowest_layer().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

template <typename Stream>
task<bool> session<Stream>::reply_error(const proxy_error& error, bool close, std::string_view request_id,
                                        unsigned version) {
  http::response<http::string_body> res{static_cast<http::status>(status_of(error)), version};
  res.set(http::field::content_type, "application/json");
  res.set("X-Request-Id", request_id);
  res.body() = error_json(error);
  res.keep_alive(!close);
  if constexpr (is_tls) {
    if (listener_->config.tls && !listener_->config.tls->hsts.empty())
      res.set(http::field::strict_transport_security, listener_->config.tls->hsts);
  }
  res.prepare_payload();
  co_return co_await write_own_reply(res.base(), res.body());
}

// drawbridge's own answers go out as one buffer in one write: one TLS record and one system call,
// whatever their size.
template <typename Stream>
task<bool> session<Stream>::write_own_reply(const http::response_header<>& head, std::string_view body) {
  auto& out = state().head;
  write_response_head(head, out);
  out.append(body);
  co_return !co_await write_all(stream_, net::buffer(out), deadline_, rt().config.timeouts.send);
}

template <typename Stream>
task<bool> session<Stream>::reply_text(unsigned status, const std::string& location, const std::string& body,
                                       bool close, unsigned version) {
  http::response<http::string_body> res{static_cast<http::status>(status), version};
  if (!location.empty()) res.set(http::field::location, location);
  res.set(http::field::content_type, "text/plain");
  res.set("X-Request-Id", state().id);
  res.body() = body;
  res.keep_alive(!close);
  res.prepare_payload();
  co_return co_await write_own_reply(res.base(), res.body());
}

template <typename Stream>
task<void> session<Stream>::lingering_close() {
  auto& socket = [this]() -> net_types::socket& {
    if constexpr (is_tls)
      return stream_.next_layer();
    else
      return stream_;
  }();
  bool clean = true;  // nothing left to send: the TLS close (if any) went out
  if constexpr (is_tls) {
    // Send close_notify, without waiting for the client's (RFC 8446 §6.1 does not ask the closer to
    // wait; doing so cost a round trip and a poll per connection). Besides being correct, it is what
    // lets a client keep its session for resumption (OpenSSL forgets sessions that ended without one).
    deadline_.arm(stream_, std::chrono::seconds(1));
    auto [ec] = co_await stream_.async_shutdown(use_tuple);
    clean = !deadline_.disarm() && !ec;
  }
  if (clean && client_is_done()) co_return;
  // Half-close, then drain what the client still sends for a moment: closing with unread bytes would
  // make the kernel send a reset that can destroy the error response before the client reads it.
  boost::system::error_code ignored;
  socket.shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  const auto until = io_deadline::clock::now() + std::chrono::seconds(2);
  buffer_.clear();  // what is left of the request is dropped: the buffer's whole room is for the drain
  std::size_t drained = 0;
  while (drained < 1024 * 1024) {
    deadline_.arm_until(socket, until);
    auto [ec, n] = co_await socket.async_read_some(buffer_.prepare(read_chunk), use_tuple);
    if (deadline_.disarm() || ec) break;
    drained += n;  // read into the session's buffer and dropped: nothing reads it after this
  }
}

// The two kinds of client connection.
template class session<net_types::socket>;
template class session<tls::tls_socket>;

}  // namespace drawbridge::proxy
