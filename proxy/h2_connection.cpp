#include "proxy/h2_connection.hpp"

#include "tls/tls_socket.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>

#include "net/spawn_logged.hpp"
#include "proxy/h2_request.hpp"
#include "proxy/header_rewrite.hpp"
#include "proxy/listener.hpp"
#include "proxy/runtime.hpp"
#include "proxy/stream_write.hpp"
#include "proxy/worker.hpp"

namespace drawbridge::proxy {

namespace {
constexpr std::size_t read_size = 16 * 1024;
// Frames gathered into one write: enough for a turn's worth of small answers, or four full DATA frames.
constexpr std::size_t write_batch = 64 * 1024;
// After the reader stopped (a GOAWAY to deliver, a protocol error), how long the writer may still take.
constexpr std::chrono::seconds last_words{1};
// What a closing connection still reads and drops (linger).
constexpr std::size_t linger_limit = 1024 * 1024;
constexpr std::chrono::milliseconds linger_pause{20};
}  // namespace

template <typename Stream>
h2_connection<Stream>::h2_connection(worker& w, Stream& stream, std::shared_ptr<const runtime> rt, const listener& l,
                                     std::string client_ip, std::string early)
    : worker_(w),
      stream_(stream),
      rt_(std::move(rt)),
      listener_(&l),
      client_ip_(std::move(client_ip)),
      early_(std::move(early)),
      session_(rt_->config.http2, is_tls_stream<Stream>::value, stream.get_executor(),
               {.on_request = [this](std::shared_ptr<h2_stream> s) { start_exchange(std::move(s)); },
                .on_output = [this] { wake_writer(); }}),
      writer_wake_(stream.get_executor(), io_deadline::clock::time_point::max()),
      done_wake_(stream.get_executor(), io_deadline::clock::time_point::max()) {
  trust_peer();
}

// Whether the client's forwarding headers are believed: by the runtime's trusted_proxies.
template <typename Stream>
void h2_connection<Stream>::trust_peer() {
  boost::system::error_code ec;
  const auto peer = net::ip::make_address(client_ip_, ec);  // made by to_string(): it parses
  peer_trusted_ = !ec && is_trusted_peer(rt_->config.trusted_proxies, peer);
}

template <typename Stream>
std::chrono::milliseconds h2_connection<Stream>::idle_limit() const {
  const auto& timeouts = rt_->config.timeouts;
  return served_ ? timeouts.client_idle : timeouts.client_header;
}

template <typename Stream>
task<void> h2_connection<Stream>::run() {
  writer_running_ = true;
  net::co_spawn(stream_.get_executor(), write_loop(), [this](const std::exception_ptr& escaped) {
    if (escaped) spdlog::error("HTTP/2 writer for {}: {}", client_ip_, net_types::describe_exception(escaped));
    writer_running_ = false;
    done_wake_.cancel();
  });
  // Begun after the worker's last call to idle connections (a handshake that was under way then, an h2c
  // preface that woke a parked connection): it says GOAWAY at once and serves only what was sent before.
  if (worker_.closing_idle()) session_.go_away();
  try {
    co_await read_loop();
  } catch (const std::exception& e) {
    // (An allocation failure, say.) The connection goes, but only once the writer and every exchange
    // are done with this object.
    spdlog::error("HTTP/2 connection from {}: {}", client_ip_, e.what());
  }
  if (const char* flood = session_.flood())
    spdlog::warn("HTTP/2 client {}: too many {}: GOAWAY ENHANCE_YOUR_CALM", client_ip_, flood);
  // What is still to be said (a GOAWAY) goes out, for a moment; then the streams close.
  reader_done_ = true;
  wake_writer();
  // The writer's end cancels the wait (so may an exchange's); the expiry ends it otherwise.
  const auto until = io_deadline::clock::now() + last_words;
  while (writer_running_ && io_deadline::clock::now() < until) {
    done_wake_.expires_at(until);
    co_await done_wake_.async_wait(use_tuple);
  }
  done_wake_.expires_at(io_deadline::clock::time_point::max());
  if (!writer_running_ && !write_failed_) {
    try {
      co_await linger();
    } catch (const std::exception& e) {
      spdlog::error("HTTP/2 connection from {}: {}", client_ip_, e.what());
    }
  }
  boost::system::error_code ignored;
  stream_.lowest_layer().close(ignored);
  session_.close_all();
  // Every exchange sees its stream closed at its next step; the session (and this object) must outlive them.
  while (writer_running_ || session_.exchanges() > 0) co_await done_wake_.async_wait(use_tuple);
}

// After the last frame (a GOAWAY): half-close, then read and drop what the client still sends, for a
// moment. Closing with unread bytes would make the kernel answer with a reset, and a client that is still
// writing (a flood, requests sent before the GOAWAY reached it) would lose the GOAWAY with it.
template <typename Stream>
task<void> h2_connection<Stream>::linger() {
  auto& socket = [this]() -> net_types::socket& {
    if constexpr (is_tls_stream<Stream>::value)
      return stream_.next_layer();
    else
      return stream_;
  }();
  boost::system::error_code ec;
  socket.shutdown(net::socket_base::shutdown_send, ec);
  socket.non_blocking(true, ec);
  // Non-blocking reads, a short pause between them: a stopping worker ticks no more, so no io_deadline
  // would end a read that waits (and a timer's handler must not outlive this object).
  const auto until = io_deadline::clock::now() + last_words;
  std::unique_ptr<char[]> buffer(new char[read_size]);
  std::size_t drained = 0;
  net_types::timer pause(stream_.get_executor());
  while (!ec && drained < linger_limit && io_deadline::clock::now() < until) {
    const auto n = socket.read_some(net::buffer(buffer.get(), read_size), ec);
    drained += n;
    if (ec == net::error::would_block) {
      ec = {};
      pause.expires_after(linger_pause);
      co_await pause.async_wait(use_tuple);
    }
  }
}

template <typename Stream>
task<void> h2_connection<Stream>::read_loop() {
  bool more = early_.empty() || session_.receive(reinterpret_cast<const std::uint8_t*>(early_.data()), early_.size());
  std::string().swap(early_);
  std::unique_ptr<std::uint8_t[]> buffer(new std::uint8_t[read_size]);
  while (more && !write_failed_) {
    // No deadline on the read itself: a timed-out read would cancel the socket's write too (an answer
    // going out to a client that has nothing to say meanwhile). Idleness is check_deadlines' to judge.
    auto [ec, n] = co_await stream_.async_read_some(net::buffer(buffer.get(), read_size), use_tuple);
    if (ec) break;
    more = session_.receive(buffer.get(), n);
    if (more && session_.finished()) break;  // a GOAWAY was sent and its last streams are done
  }
}

template <typename Stream>
task<void> h2_connection<Stream>::write_loop() {
  std::string out;
  const auto send_timeout = rt_->config.timeouts.send;
  for (;;) {
    out.clear();
    session_.collect(out, write_batch);
    if (!out.empty()) {
      if (co_await write_all(stream_, net::buffer(out), write_deadline_, send_timeout)) {
        write_failed_ = true;
        boost::system::error_code ignored;
        stream_.lowest_layer().cancel(ignored);  // the reader stops too
        co_return;
      }
      continue;
    }
    if (reader_done_) co_return;
    if (session_.finished()) {
      // GOAWAY sent and every stream it let finish is done: the reader may be waiting on a silent client.
      boost::system::error_code ignored;
      stream_.lowest_layer().cancel(ignored);
      co_return;
    }
    co_await writer_wake_.async_wait(use_tuple);
  }
}

template <typename Stream>
void h2_connection<Stream>::follow_worker_runtime() {
  worker_.follow_source();
  const auto& current = worker_.current_runtime();
  if (current == rt_) return;
  const auto it = find_listener(current->listeners, listener_->name);
  if (it == current->listeners.end() || (*it)->tls() != listener_->tls()) {
    // The listener went (or changed kind): this stream is served on the runtime that has it, and the
    // connection takes no more (HTTP/1.1 closes after its request likewise).
    session_.go_away();
    return;
  }
  listener_ = it->get();
  rt_ = current;
  trust_peer();
}

template <typename Stream>
void h2_connection<Stream>::start_exchange(std::shared_ptr<h2_stream> stream) {
  served_ = true;
  follow_worker_runtime();
  // Stopping: this stream is served, and the connection takes no more (as an HTTP/1.1 request that comes
  // during a stop is answered with Connection: close).
  if (worker_.stopping()) session_.go_away();
  stream->set_send_timeout(rt_->config.timeouts.send);
  h2_origin origin{.rt = rt_,
                   .l = listener_,
                   .client_ip = client_ip_,
                   .peer_trusted = peer_trusted_,
                   .tls = is_tls_stream<Stream>::value};
  auto* raw = stream.get();
  auto keep = stream;
  // Counted once spawned: an allocation failure before that must leave no exchange counted that never ends
  // (the completion runs later, from the executor).
  net::co_spawn(stream_.get_executor(), serve_h2_stream(worker_, std::move(origin), std::move(stream)),
                [this, s = std::move(keep)](const std::exception_ptr& escaped) {
                  if (escaped) {
                    spdlog::error("HTTP/2 stream from {}: {}", client_ip_, net_types::describe_exception(escaped));
                    if (!s->closed()) s->abort();
                  }
                  running_.erase(s.get());
                  session_.exchange_ended(*s);
                  wake_writer();
                  done_wake_.cancel();
                });
  session_.exchange_started();
  running_.insert(raw);
}

template <typename Stream>
void h2_connection<Stream>::go_away() {
  session_.go_away();
}

template <typename Stream>
void h2_connection<Stream>::force_close() {
  boost::system::error_code ignored;
  stream_.lowest_layer().close(ignored);
  session_.close_all();
  for (auto* s : running_) s->on_closed();  // those reset earlier may have a node connection again
}

template <typename Stream>
void h2_connection<Stream>::check_deadlines(io_deadline::clock::time_point now) {
  write_deadline_.check(now);
  // The running exchanges' streams, closed or not: an exchange's deadline must fire even after a reset.
  for (auto* s : running_) s->deadline().check(now);
  session_.reset_stalled(now, rt_->config.timeouts.send);
  // Idle (nothing running, nothing going out): the limit counts from when it became so, whatever frames
  // come meanwhile, so that PINGs or a header block that never ends cannot hold an unused connection.
  if (session_.busy()) {
    idle_since_ = {};
  } else if (idle_since_ == io_deadline::clock::time_point{}) {
    idle_since_ = now;
  } else if (now - idle_since_ >= idle_limit() && !idle_closed_) {
    idle_closed_ = true;
    session_.close_idle();
  }
}

template class h2_connection<net_types::socket>;
template class h2_connection<tls::tls_socket>;

}  // namespace drawbridge::proxy
