#include "admin/http_server.hpp"

#include <fcntl.h>

#include <spdlog/spdlog.h>

#include <array>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <system_error>

#include "admin/request_guard.hpp"
#include "net/spawn_logged.hpp"
#include "proxy/field_text.hpp"

namespace drawbridge::admin {

namespace net = boost::asio;
using net_types::task;
using net_types::use_tuple;
using tcp = net::ip::tcp;

namespace {
constexpr std::size_t max_header_size = 16 * 1024;
constexpr std::size_t max_body_size = 64 * 1024;
// All a connection may hold of what its client sent and we have not parsed yet: a header, a chunk line,
// trailers. A line that never ends stops there (buffer_overflow) instead of growing memory.
constexpr std::size_t max_buffered = max_header_size + max_body_size + 4 * 1024;
constexpr auto request_timeout = std::chrono::seconds(30);
constexpr std::size_t max_connections = 256;
// How long, and how much, linger_close reads and drops.
constexpr auto linger_time = std::chrono::seconds(1);
constexpr std::size_t linger_bytes = 256 * 1024;

response plain_error(unsigned status, const char* code, const char* message) {
  response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = std::string(R"({"error":{"code":")") + code + R"(","message":")" + message + "\"}}\n";
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

// The answer to a request that could not be read.
response read_error(boost::system::error_code ec) {
  if (ec == http::error::header_limit) return plain_error(431, "header_too_large", "request header larger than 16 KiB");
  if (ec == http::error::body_limit) return plain_error(413, "too_large", "request body larger than 64 KiB");
  if (ec == http::error::buffer_overflow)
    return plain_error(413, "too_large", "request larger than the admin API reads (a chunk line or trailer too long)");
  return plain_error(400, "bad_request", "malformed request");
}
}  // namespace

http_server::http_server(net::io_context& io, admit_handler admit, handler h)
    : io_(io), admit_(std::move(admit)), handler_(std::move(h)), acceptor_(io.get_executor()) {}

http_server::~http_server() { stop(); }

void http_server::listen(const tcp::endpoint& endpoint) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen();
}

void http_server::adopt(owned_fd fd, tcp protocol) {
  acceptor_.assign(protocol, fd.get());
  fd.release();  // the acceptor's now
}

owned_fd http_server::duplicate_listener() {
  if (!acceptor_.is_open()) return {};
  owned_fd copy(::fcntl(acceptor_.native_handle(), F_DUPFD_CLOEXEC, 3));
  if (!copy) throw std::system_error(errno, std::generic_category(), "cannot duplicate the admin socket");
  return copy;
}

void http_server::stop_accepting() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

tcp::endpoint http_server::local_endpoint() const { return acceptor_.local_endpoint(); }

void http_server::start() { spawn_accept_loop(std::chrono::milliseconds(0)); }

void http_server::spawn_accept_loop(std::chrono::milliseconds delay) {
  net_types::spawn_logged(io_.get_executor(), accept_loop(delay), "admin: accept loop", [this] {
    // Not at once: whatever threw may throw again, and a tight loop of it would hold the control thread.
    if (!stopped_) spawn_accept_loop(std::chrono::milliseconds(100));
  });
}

void http_server::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (const auto& s : open_) s->close(ignored);
}

task<void> http_server::accept_loop(std::chrono::milliseconds delay) {
  if (delay.count() > 0) {
    net_types::timer pause(io_.get_executor());
    pause.expires_after(delay);
    co_await pause.async_wait(use_tuple);
  }
  while (!stopped_) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec == net::error::operation_aborted || stopped_) co_return;
    if (ec) {
      spdlog::warn("admin: accept failed: {}", ec.message());
      continue;
    }
    // The admin API is for a few operators and scripts; a flood of connections must not eat the
    // descriptors the data plane needs.
    if (open_.size() >= max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    auto shared = std::make_shared<net_types::socket>(std::move(socket));
    open_.insert(shared);
    net_types::spawn_logged(io_.get_executor(), serve(shared), "admin: connection", [this, shared] {
      boost::system::error_code ignored;
      shared->close(ignored);
      open_.erase(shared);
    });
  }
}

std::optional<response> http_server::screen(const parser& p, const std::string& client, std::string& caller) const {
  auto decided = admit_(p.get(), client);
  if (decided.refused) return std::move(decided.refused);
  caller = std::move(decided.caller);
  const auto length = p.content_length();
  if (!p.chunked() && length.value_or(0) == 0) return std::nullopt;  // no body
  if (!is_json_media_type(p.get()[http::field::content_type]))
    return plain_error(415, "unsupported_media_type", "a request body must be JSON (Content-Type: application/json)");
  if (length && *length > max_body_size) return plain_error(413, "too_large", "request body larger than 64 KiB");
  return std::nullopt;
}

task<void> http_server::serve(std::shared_ptr<net_types::socket> socket) {
  boost::system::error_code ec;
  const auto peer = socket->remote_endpoint(ec);
  const std::string client = ec ? "unknown" : peer.address().to_string() + ":" + std::to_string(peer.port());
  boost::beast::flat_buffer buffer(max_buffered);
  // Closes the connection when a request takes too long to arrive (or the client keeps it idle): one
  // deadline for header and body, which trickling bytes cannot extend.
  net_types::timer timeout(io_.get_executor());
  bool read_whole = true;  // the last request was read to its end (else the client may still be sending)
  for (;;) {
    parser p;
    p.header_limit(max_header_size);
    // No body limit while the header is read: Beast would refuse a large Content-Length at once, before
    // admission, and so answer 413 to a caller that deserves 401.
    p.body_limit(boost::none);
    timeout.expires_after(request_timeout);
    timeout.async_wait([socket](boost::system::error_code tec) {
      if (tec) return;
      boost::system::error_code ignored;
      socket->close(ignored);
    });
    auto [hec, header_bytes] = co_await http::async_read_header(*socket, buffer, p, use_tuple);
    if (hec == http::error::end_of_stream || hec == net::error::operation_aborted || !socket->is_open()) break;
    std::string caller;
    std::optional<response> refused = hec ? read_error(hec) : screen(p, client, caller);
    if (!refused) {
      if (proxy::iequals_ascii(p.get()[http::field::expect], "100-continue")) {
        http::response<http::empty_body> go_on{http::status::continue_, 11};
        auto [cec, continue_bytes] = co_await http::async_write(*socket, go_on, use_tuple);
        if (cec) break;
      }
      p.body_limit(max_body_size);
      auto [rec, body_bytes] = co_await http::async_read(*socket, buffer, p, use_tuple);
      if (rec == net::error::operation_aborted || !socket->is_open()) break;
      if (rec) refused = read_error(rec);
    }
    timeout.cancel();
    response res;
    if (refused) {
      res = std::move(*refused);
      res.keep_alive(false);
      read_whole = false;
    } else {
      // A handler bug must cost one 500, not a connection left without an answer.
      try {
        res = co_await handler_(p.get(), client, caller);
        res.keep_alive(res.keep_alive() && p.get().keep_alive() && !stopped_);
      } catch (const std::exception& e) {
        spdlog::error("admin: {} {} failed: {}", std::string(p.get().method_string()), std::string(p.get().target()),
                      e.what());
        res = plain_error(500, "internal", "the admin API failed on this request; see the log");
      }
    }
    res.version(11);
    res.prepare_payload();
    // The answer goes out within the same limit: a caller that never reads it must not keep one of the
    // few admin connections (an operator's drain may need it).
    timeout.expires_after(request_timeout);
    timeout.async_wait([socket](boost::system::error_code tec) {
      if (tec) return;
      boost::system::error_code ignored;
      socket->close(ignored);
    });
    auto [wec, written] = co_await http::async_write(*socket, res, use_tuple);
    timeout.cancel();
    if (wec || !res.keep_alive() || !socket->is_open()) break;
  }
  timeout.cancel();
  if (!read_whole && socket->is_open()) co_await linger_close(socket);
  boost::system::error_code ignored;
  socket->shutdown(tcp::socket::shutdown_send, ignored);
  socket->close(ignored);
  open_.erase(socket);
}

// A refused request's body may still be on its way. Closing with unread bytes makes the kernel send a
// reset, which can destroy our answer before the client reads it; so the answer is followed by our FIN,
// and what still comes is read and dropped, at most linger_bytes for at most linger_time.
task<void> http_server::linger_close(std::shared_ptr<net_types::socket> socket) {
  boost::system::error_code ignored;
  socket->shutdown(tcp::socket::shutdown_send, ignored);
  net_types::timer deadline(io_.get_executor());
  deadline.expires_after(linger_time);
  deadline.async_wait([socket](boost::system::error_code ec) {
    if (ec) return;
    boost::system::error_code closing;
    socket->close(closing);
  });
  std::array<char, 4096> scratch;
  for (std::size_t dropped = 0; dropped < linger_bytes;) {
    auto [ec, n] = co_await socket->async_read_some(net::buffer(scratch), use_tuple);
    if (ec) break;
    dropped += n;
  }
  deadline.cancel();
}

}  // namespace drawbridge::admin
