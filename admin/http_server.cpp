#include "admin/http_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace drawbridge::admin {

namespace net = boost::asio;
using net_types::task;
using net_types::use_tuple;
using tcp = net::ip::tcp;

namespace {
constexpr std::size_t max_request_size = 64 * 1024;
constexpr auto request_timeout = std::chrono::seconds(30);
constexpr std::size_t max_connections = 256;

response plain_error(unsigned status, const char* code, const char* message) {
  response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.body() = std::string(R"({"error":{"code":")") + code + R"(","message":")" + message + "\"}}";
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}
}  // namespace

http_server::http_server(net::io_context& io, handler h)
    : io_(io), handler_(std::move(h)), acceptor_(io.get_executor()) {}

http_server::~http_server() { stop(); }

void http_server::listen(const tcp::endpoint& endpoint) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen();
}

tcp::endpoint http_server::local_endpoint() const { return acceptor_.local_endpoint(); }

void http_server::start() { net::co_spawn(io_, accept_loop(), net::detached); }

void http_server::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (const auto& s : open_) s->close(ignored);
}

task<void> http_server::accept_loop() {
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
    net::co_spawn(io_, serve(shared), net::detached);
  }
}

task<void> http_server::serve(std::shared_ptr<net_types::socket> socket) {
  boost::system::error_code ec;
  const auto peer = socket->remote_endpoint(ec);
  const std::string client = ec ? "unknown" : peer.address().to_string() + ":" + std::to_string(peer.port());
  boost::beast::flat_buffer buffer;
  // Closes the connection when a request takes too long to arrive (or the client keeps it idle).
  net_types::timer timeout(io_.get_executor());
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(max_request_size);
    timeout.expires_after(request_timeout);
    timeout.async_wait([socket](boost::system::error_code tec) {
      if (tec) return;
      boost::system::error_code ignored;
      socket->close(ignored);
    });
    auto [rec, n] = co_await http::async_read(*socket, buffer, parser, use_tuple);
    timeout.cancel();
    if (rec == http::error::end_of_stream || rec == net::error::operation_aborted || !socket->is_open()) break;
    response res;
    if (rec) {
      res = plain_error(rec == http::error::body_limit ? 413 : 400,
                        rec == http::error::body_limit ? "too_large" : "bad_request",
                        rec == http::error::body_limit ? "request larger than 64 KiB" : "malformed request");
    } else {
      // A handler bug must cost one 500, not a connection left without an answer.
      try {
        res = co_await handler_(parser.get(), client);
        res.keep_alive(res.keep_alive() && parser.get().keep_alive() && !stopped_);
      } catch (const std::exception& e) {
        spdlog::error("admin: {} {} failed: {}", std::string(parser.get().method_string()),
                      std::string(parser.get().target()), e.what());
        res = plain_error(500, "internal", "the admin API failed on this request; see the log");
      }
    }
    res.version(11);
    res.prepare_payload();
    auto [wec, written] = co_await http::async_write(*socket, res, use_tuple);
    if (wec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  socket->shutdown(tcp::socket::shutdown_send, ignored);
  socket->close(ignored);
  open_.erase(socket);
}

}  // namespace drawbridge::admin
