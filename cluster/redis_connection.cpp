#include "cluster/redis_connection.hpp"

#include <openssl/err.h>
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
using clock = std::chrono::steady_clock;

namespace {
constexpr auto watchdog_interval = std::chrono::milliseconds(100);
}

redis_connection::redis_connection(net_types::executor ex, options opts) : ex_(std::move(ex)), opts_(std::move(opts)) {
  if (opts_.tls)
    tls_.emplace(ex_, *opts_.tls);
  else
    plain_.emplace(ex_);
}

redis_connection::~redis_connection() = default;

std::shared_ptr<redis_connection> redis_connection::create(net_types::executor ex, options opts) {
  return std::shared_ptr<redis_connection>(new redis_connection(std::move(ex), std::move(opts)));
}

task<std::string> redis_connection::open() {
  opening_since_ = clock::now();
  net_types::spawn_logged(ex_, watchdog(shared_from_this()), "cluster: Redis connection watchdog");
  auto error = co_await open_steps();
  if (!error.empty()) close(error);
  co_return closed_ ? (error_.empty() ? std::string("closed") : error_) : std::string();
}

task<std::string> redis_connection::open_steps() {
  if (auto error = co_await connect(); !error.empty()) co_return error;
  if (closed_) co_return error_;
  open_ = true;
  net_types::spawn_logged(ex_, read_loop(shared_from_this()), "cluster: Redis reader");
  // AUTH and SELECT go through call(): their replies come in order like any other, under the same deadline.
  if (!opts_.password.empty()) {
    auto auth = command("AUTH");
    if (!opts_.user.empty()) auth.push_back(opts_.user);
    auth.push_back(opts_.password);
    const auto r = co_await call(std::move(auth));
    if (!r.value || r.value->is_error()) co_return "AUTH: " + (r.value ? r.value->text : r.error);
  }
  if (opts_.url.db != 0) {
    const auto r = co_await call(command("SELECT", std::to_string(opts_.url.db)));
    if (!r.value || r.value->is_error())
      co_return "SELECT " + std::to_string(opts_.url.db) + ": " + (r.value ? r.value->text : r.error);
  }
  co_return std::string();
}

task<std::string> redis_connection::connect() {
  const auto& url = opts_.url;
  boost::system::error_code ec;
  if (url.scheme == conf::redis_url::kind::unix_socket) {
    std::tie(ec) = co_await socket().async_connect(asio::local::stream_protocol::endpoint(url.path), use_tuple);
    if (ec) co_return "connect to " + url.path + ": " + (closed_ ? error_ : ec.message());
    co_return std::string();
  }
  resolver_.emplace(ex_);  // a member, so that close() can cancel it
  auto [rec, found] = co_await resolver_->async_resolve(url.host, std::to_string(url.port),
                                                        asio::ip::tcp::resolver::numeric_service, use_tuple);
  if (closed_) co_return error_;
  if (rec) co_return "resolve " + url.host + ": " + rec.message();
  std::string last = "no address";
  bool connected = false;
  for (const auto& entry : found) {
    boost::system::error_code ignored;
    socket().close(ignored);
    std::tie(ec) = co_await socket().async_connect(entry.endpoint(), use_tuple);
    if (closed_) co_return error_;  // the watchdog's deadline, or stop()
    if (!ec) {
      connected = true;
      break;
    }
    last = ec.message();
  }
  if (!connected) co_return "connect to " + conf::to_string(conf::host_port{url.host, url.port}) + ": " + last;
  socket().set_option(asio::ip::tcp::no_delay(true), ec);
  // A peer that vanished without a word (a partition) is noticed by the deadlines (the watchdog); keep-alive
  // only lets the kernel reclaim such a socket eventually.
  socket().set_option(asio::socket_base::keep_alive(true), ec);
  if (url.scheme == conf::redis_url::kind::tcp) co_return std::string();
  const auto& name = opts_.tls_server_name.empty() ? url.host : opts_.tls_server_name;
  boost::system::error_code addr_ec;
  (void)asio::ip::make_address(name, addr_ec);
  if (addr_ec) SSL_set_tlsext_host_name(tls_->native_handle(), name.c_str());  // RFC 6066: no IP literals
  if (SSL_CTX_get_verify_mode(opts_.tls->native_handle()) != SSL_VERIFY_NONE)
    tls_->set_verify_callback(asio::ssl::host_name_verification(name));
  // An error left in this thread's OpenSSL queue (by an earlier, unrelated call) would otherwise be what the
  // handshake's failure reports, instead of its own reason (certificate verify failed, ...).
  ERR_clear_error();
  std::tie(ec) = co_await tls_->async_handshake(asio::ssl::stream_base::client, use_tuple);
  if (closed_) co_return error_;
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

std::shared_ptr<redis_connection::pending> redis_connection::enqueue(const std::vector<std::string>& args) {
  auto p = std::make_shared<pending>(ex_);
  p->done.expires_at(net_types::timer::time_point::max());
  p->sent_at = clock::now();
  pending_.push_back(p);
  send(encode_command(args));
  return p;
}

task<call_result> redis_connection::call(std::vector<std::string> args) {
  if (!open_) co_return call_result{std::nullopt, error_.empty() ? "not connected" : error_};
  auto p = enqueue(args);
  co_await p->done.async_wait(use_tuple);  // cancelled by deliver() or close()
  co_return std::move(p->result);
}

task<std::vector<call_result>> redis_connection::call_all(std::vector<std::vector<std::string>> commands) {
  std::vector<call_result> out;
  out.reserve(commands.size());
  if (!open_) {
    for (std::size_t i = 0; i < commands.size(); ++i)
      out.push_back(call_result{std::nullopt, error_.empty() ? "not connected" : error_});
    co_return out;
  }
  std::vector<std::shared_ptr<pending>> waiting;
  waiting.reserve(commands.size());
  for (const auto& c : commands) waiting.push_back(enqueue(c));
  for (auto& p : waiting) {
    // A reply that came in while an earlier one was awaited has cancelled a timer nobody waited on yet:
    // a wait now would never end.
    if (!p->answered) co_await p->done.async_wait(use_tuple);
    out.push_back(std::move(p->result));
  }
  co_return out;
}

task<call_result> redis_connection::subscribe(std::string channel) {
  subscriber_ = true;
  last_heard_ = clock::now();
  send(encode_command(command("SUBSCRIBE", std::move(channel))));
  auto confirmation = co_await next_push();  // ["subscribe", channel, 1]
  if (confirmation.value && (confirmation.value->kind != reply::type::array || confirmation.value->elements.empty() ||
                             confirmation.value->elements[0].text != "subscribe")) {
    close("SUBSCRIBE was not confirmed");
    co_return call_result{std::nullopt, error_};
  }
  co_return confirmation;
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
    last_heard_ = clock::now();
    unparsed_bytes_ += n;
    if (unparsed_bytes_ > max_reply_bytes) {
      close("a reply over " + std::to_string(max_reply_bytes >> 20) + " MiB");
      co_return;
    }
    if (!reader_.feed(buffer.data(), n)) {
      close("cannot buffer the reply");
      co_return;
    }
    for (;;) {
      reply r;
      std::string error;
      reply_reader::result got = reply_reader::result::need_more;
      try {
        got = reader_.next(r, error);
      } catch (const std::exception& e) {  // a reply too large to convert (bad_alloc, length_error)
        got = reply_reader::result::protocol_error;
        error = e.what();
      }
      if (got == reply_reader::result::need_more) break;
      if (got == reply_reader::result::protocol_error) {
        close("not RESP: " + error);
        co_return;
      }
      unparsed_bytes_ = 0;
      deliver(std::move(r));
      if (!open_) co_return;
    }
  }
}

void redis_connection::deliver(reply r) {
  if (subscriber_) {
    if (pushes_.size() >= max_pushes) return close("more than " + std::to_string(max_pushes) + " messages unread");
    pushes_.push_back(std::move(r));
    wake_push_waiter();
    return;
  }
  if (pending_.empty()) return close("a reply nobody asked for");
  auto p = std::move(pending_.front());
  pending_.pop_front();
  p->result.value = std::move(r);
  p->answered = true;
  p->done.cancel();
}

void redis_connection::wake_push_waiter() {
  if (auto w = std::exchange(push_waiter_, nullptr)) w->done.cancel();
}

task<void> redis_connection::watchdog(std::shared_ptr<redis_connection> /*self: kept for the loop*/) {
  net_types::timer tick(ex_);
  while (!closed_) {
    tick.expires_after(watchdog_interval);
    co_await tick.async_wait(use_tuple);
    if (closed_) break;
    const auto now = clock::now();
    const auto limit = opts_.timeout;
    if (!open_) {
      if (now - opening_since_ > limit) close("not connected within " + std::to_string(limit.count()) + " ms");
    } else if (!pending_.empty() && now - pending_.front()->sent_at > limit) {
      close("no reply within " + std::to_string(limit.count()) + " ms");
    } else if (subscriber_ && now - last_heard_ > 3 * limit) {
      close("nothing heard on the subscription for " + std::to_string((3 * limit).count()) + " ms");
    } else if (subscriber_ && now - last_ping_ >= limit / 2) {
      // Its answer comes as a push: proof that the subscription is alive.
      last_ping_ = now;
      send(encode_command(command("PING")));
    }
  }
}

void redis_connection::close(const std::string& why) {
  if (closed_) return;
  closed_ = true;
  open_ = false;
  error_ = why;
  boost::system::error_code ignored;
  if (resolver_) resolver_->cancel();
  socket().close(ignored);
  for (auto& p : std::exchange(pending_, {})) {
    p->result.error = error_.empty() ? std::string("closed") : error_;
    p->answered = true;
    p->done.cancel();
  }
  wake_push_waiter();
}

}  // namespace drawbridge::cluster
