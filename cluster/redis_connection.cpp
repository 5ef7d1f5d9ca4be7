#include "cluster/redis_connection.hpp"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/write.hpp>

#include "net/spawn_logged.hpp"

namespace drawbridge::cluster {

namespace asio = boost::asio;
using net_types::task;
using net_types::use_tuple;

redis_connection::redis_connection(net_types::executor ex, options opts) : ex_(std::move(ex)), opts_(std::move(opts)) {
  if (opts_.tls)
    tls_.emplace(ex_, *opts_.tls);
  else
    plain_.emplace(ex_);
}

redis_connection::~redis_connection() = default;

task<std::shared_ptr<redis_connection>> redis_connection::open(net_types::executor ex, options opts,
                                                               std::shared_ptr<std::string> error) {
  std::shared_ptr<redis_connection> c(new redis_connection(ex, std::move(opts)));
  // The whole opening is timed by the same watchdog as a call: it closes the socket when time is up.
  auto watchdog = std::make_shared<net_types::timer>(ex);
  watchdog->expires_after(c->opts_.timeout);
  watchdog->async_wait([weak = std::weak_ptr<redis_connection>(c)](boost::system::error_code ec) {
    if (ec) return;
    if (auto locked = weak.lock(); locked && !locked->open_) {
      boost::system::error_code ignored;
      locked->socket().close(ignored);
    }
  });
  *error = co_await c->connect();
  watchdog->cancel();
  if (!error->empty()) co_return nullptr;
  c->open_ = true;
  net_types::spawn_logged(ex, c->read_loop(c), "cluster: Redis reader");
  // AUTH and SELECT go through call(): their replies come in order like any other.
  if (!c->opts_.password.empty()) {
    auto auth = command("AUTH");
    if (!c->opts_.user.empty()) auth.push_back(c->opts_.user);
    auth.push_back(c->opts_.password);
    const auto r = co_await c->call(std::move(auth));
    if (!r.value || r.value->is_error()) {
      *error = "AUTH: " + (r.value ? r.value->text : r.error);
      c->close(*error);
      co_return nullptr;
    }
  }
  if (c->opts_.url.db != 0) {
    const auto r = co_await c->call(command("SELECT", std::to_string(c->opts_.url.db)));
    if (!r.value || r.value->is_error()) {
      *error = "SELECT " + std::to_string(c->opts_.url.db) + ": " + (r.value ? r.value->text : r.error);
      c->close(*error);
      co_return nullptr;
    }
  }
  co_return c;
}

task<std::string> redis_connection::connect() {
  const auto& url = opts_.url;
  boost::system::error_code ec;
  if (url.scheme == conf::redis_url::kind::unix_socket) {
    std::tie(ec) = co_await socket().async_connect(asio::local::stream_protocol::endpoint(url.path), use_tuple);
    if (ec) co_return "connect to " + url.path + ": " + ec.message();
    co_return std::string();
  }
  asio::ip::tcp::resolver resolver(ex_);
  auto [rec, found] = co_await resolver.async_resolve(url.host, std::to_string(url.port),
                                                      asio::ip::tcp::resolver::numeric_service, use_tuple);
  if (rec) co_return "resolve " + url.host + ": " + rec.message();
  std::string last = "no address";
  bool connected = false;
  for (const auto& entry : found) {
    boost::system::error_code ignored;
    socket().close(ignored);
    std::tie(ec) = co_await socket().async_connect(entry.endpoint(), use_tuple);
    if (!ec) {
      connected = true;
      break;
    }
    last = ec.message();
  }
  if (!connected) co_return "connect to " + conf::to_string(conf::host_port{url.host, url.port}) + ": " + last;
  if (url.scheme == conf::redis_url::kind::tcp) {
    socket().set_option(asio::ip::tcp::no_delay(true), ec);
    co_return std::string();
  }
  const auto& name = opts_.tls_server_name.empty() ? url.host : opts_.tls_server_name;
  // The server name goes out as SNI (not for an IP address) and the certificate must carry it.
  boost::system::error_code addr_ec;
  (void)asio::ip::make_address(name, addr_ec);
  if (addr_ec) SSL_set_tlsext_host_name(tls_->native_handle(), name.c_str());  // RFC 6066: no IP literals
  if (SSL_CTX_get_verify_mode(opts_.tls->native_handle()) != SSL_VERIFY_NONE)
    tls_->set_verify_callback(asio::ssl::host_name_verification(name));
  std::tie(ec) = co_await tls_->async_handshake(asio::ssl::stream_base::client, use_tuple);
  if (ec) co_return "TLS handshake with " + url.host + ": " + ec.message();
  co_return std::string();
}

task<std::pair<boost::system::error_code, std::size_t>> redis_connection::read_some(asio::mutable_buffer into) {
  if (tls_) {
    auto [ec, n] = co_await tls_->async_read_some(into, use_tuple);
    co_return std::pair{ec, n};
  }
  auto [ec, n] = co_await plain_->async_read_some(into, use_tuple);
  co_return std::pair{ec, n};
}

task<boost::system::error_code> redis_connection::write_all(asio::const_buffer what) {
  if (tls_) {
    auto [ec, n] = co_await asio::async_write(*tls_, what, use_tuple);
    co_return ec;
  }
  auto [ec, n] = co_await asio::async_write(*plain_, what, use_tuple);
  co_return ec;
}

task<call_result> redis_connection::call(std::vector<std::string> args) {
  if (!open_) co_return call_result{std::nullopt, error_.empty() ? "not connected" : error_};
  auto p = std::make_shared<pending>(ex_);
  p->done.expires_at(net_types::timer::time_point::max());
  p->sent_at = std::chrono::steady_clock::now();
  pending_.push_back(p);
  send(encode_command(args));
  co_await p->done.async_wait(use_tuple);  // cancelled by deliver() or close()
  co_return std::move(p->result);
}

task<call_result> redis_connection::subscribe(std::string channel) {
  subscriber_ = true;
  last_heard_ = std::chrono::steady_clock::now();
  send(encode_command(command("SUBSCRIBE", std::move(channel))));
  co_return co_await next_push();  // ["subscribe", channel, 1]
}

task<call_result> redis_connection::next_push() {
  while (pushes_.empty()) {
    if (!open_) co_return call_result{std::nullopt, error_.empty() ? "not connected" : error_};
    auto p = std::make_shared<pending>(ex_);
    p->done.expires_at(net_types::timer::time_point::max());
    push_waiter_ = p;
    co_await p->done.async_wait(use_tuple);
  }
  call_result r{std::move(pushes_.front()), {}};
  pushes_.pop_front();
  co_return r;
}

void redis_connection::ping_subscriber() {
  if (open_ && subscriber_) send(encode_command(command("PING")));
}

void redis_connection::send(const std::string& bytes) {
  out_ += bytes;
  if (writing_ || !open_) return;
  writing_ = true;
  net_types::spawn_logged(ex_, write_loop(shared_from_this()), "cluster: Redis writer");
}

task<void> redis_connection::write_loop(std::shared_ptr<redis_connection> /*self: kept for the loop*/) {
  std::string sending;
  while (open_ && !out_.empty()) {
    sending.clear();
    std::swap(sending, out_);
    const auto ec = co_await write_all(asio::buffer(sending));
    if (ec) {
      close("write: " + ec.message());
      break;
    }
  }
  writing_ = false;
}

task<void> redis_connection::read_loop(std::shared_ptr<redis_connection> /*self: kept for the loop*/) {
  std::vector<char> buffer(16 * 1024);
  while (open_) {
    auto [ec, n] = co_await read_some(asio::buffer(buffer));
    if (ec) {
      close(ec == asio::error::eof ? std::string("Redis closed the connection") : "read: " + ec.message());
      co_return;
    }
    last_heard_ = std::chrono::steady_clock::now();
    if (!reader_.feed(buffer.data(), n)) {
      close("cannot buffer the reply");
      co_return;
    }
    for (;;) {
      reply r;
      std::string error;
      const auto got = reader_.next(r, error);
      if (got == reply_reader::result::need_more) break;
      if (got == reply_reader::result::protocol_error) {
        close("not RESP: " + error);
        co_return;
      }
      deliver(std::move(r));
    }
  }
}

void redis_connection::deliver(reply r) {
  if (subscriber_ || pending_.empty()) {
    // Subscriber mode, or an answer nobody asked for: Redis pushes it (pub/sub messages, PING's pong).
    pushes_.push_back(std::move(r));
    wake_push_waiter();
    return;
  }
  auto p = std::move(pending_.front());
  pending_.pop_front();
  p->result.value = std::move(r);
  p->done.cancel();
}

void redis_connection::wake_push_waiter() {
  if (auto w = std::exchange(push_waiter_, nullptr)) w->done.cancel();
}

void redis_connection::expire(std::chrono::steady_clock::time_point now) {
  if (!open_) return;
  if (!pending_.empty() && now - pending_.front()->sent_at > opts_.timeout)
    close("no reply within " + std::to_string(opts_.timeout.count()) + " ms");
  else if (subscriber_ && now - last_heard_ > 3 * opts_.timeout)
    close("nothing heard on the subscription for " + std::to_string(3 * opts_.timeout.count()) + " ms");
}

void redis_connection::close(const std::string& why) {
  if (!open_ && !error_.empty()) return;
  open_ = false;
  if (error_.empty()) error_ = why;
  boost::system::error_code ignored;
  socket().close(ignored);
  for (auto& p : std::exchange(pending_, {})) {
    p->result.error = error_;
    p->done.cancel();
  }
  wake_push_waiter();
}

}  // namespace drawbridge::cluster
