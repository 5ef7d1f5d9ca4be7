#include "acme/https_client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <memory>

#include "net/stream.hpp"

namespace drawbridge::acme {

namespace net = boost::asio;
namespace http = boost::beast::http;
using net_types::use_tuple;

std::optional<https_url> parse_https_url(const std::string& url) {
  constexpr std::string_view scheme = "https://";
  if (url.rfind(scheme, 0) != 0) return std::nullopt;
  https_url out;
  const auto rest = std::string_view(url).substr(scheme.size());
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) out.target = std::string(rest.substr(slash));
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view port;
  if (authority.front() == '[') {  // an IPv6 literal
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return std::nullopt;
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    out.port = std::string(port);
  }
  return out;
}

namespace {

// What the deadline closes: held by the timer's handler too, so that it outlives a coroutine that ended.
struct connection {
  explicit connection(net_types::executor ex, net::ssl::context& trust) : stream(ex, trust), resolver(ex), timer(ex) {}
  net::ssl::stream<net_types::socket> stream;
  net::ip::tcp::resolver::rebind_executor<net_types::executor>::other resolver;
  net_types::timer timer;
  bool expired = false;
};

// Cancels the deadline however the coroutine ends, a thrown cancellation (the process stopping) included:
// a pending timer would keep the control thread's io_context running for the rest of the timeout.
struct deadline_guard {
  std::shared_ptr<connection> c;
  ~deadline_guard() { c->timer.cancel(); }
};

}  // namespace

net_types::task<https_reply> fetch(net::ssl::context& trust, const https_request& request,
                                   std::chrono::milliseconds timeout) {
  https_reply reply;
  const auto url = parse_https_url(request.url);
  if (!url) {
    reply.error = "not an https URL: " + request.url;
    co_return reply;
  }
  const auto ex = co_await net::this_coro::executor;
  auto c = std::make_shared<connection>(ex, trust);
  c->timer.expires_after(timeout);
  c->timer.async_wait([c](boost::system::error_code ec) {
    if (ec) return;
    c->expired = true;
    c->resolver.cancel();
    boost::system::error_code ignored;
    c->stream.lowest_layer().close(ignored);
  });
  const deadline_guard guard{c};
  auto failed = [&](const std::string& what, const boost::system::error_code& ec) {
    reply.error = what + " " + url->host + ":" + url->port + ": " + (c->expired ? "timed out" : ec.message());
  };

  auto [rec, endpoints] = co_await c->resolver.async_resolve(url->host, url->port, use_tuple);
  if (rec) {
    failed("cannot resolve", rec);
    co_return reply;
  }
  boost::system::error_code cec = net::error::host_not_found;
  for (const auto& entry : endpoints) {
    boost::system::error_code ignored;
    c->stream.lowest_layer().close(ignored);
    std::tie(cec) = co_await c->stream.lowest_layer().async_connect(entry.endpoint(), use_tuple);
    if (!cec || c->expired) break;
  }
  if (cec) {
    failed("cannot connect to", cec);
    co_return reply;
  }
  boost::system::error_code not_ip;
  net::ip::make_address(url->host, not_ip);
  if (not_ip) SSL_set_tlsext_host_name(c->stream.native_handle(), url->host.c_str());
  c->stream.set_verify_mode(net::ssl::verify_peer);
  c->stream.set_verify_callback(net::ssl::host_name_verification(url->host));
  auto [hec] = co_await c->stream.async_handshake(net::ssl::stream_base::client, use_tuple);
  if (hec) {
    failed("TLS with", hec);
    co_return reply;
  }

  http::request<http::string_body> req{request.method, url->target, 11};
  req.set(http::field::host, url->port == "443" ? url->host : url->host + ":" + url->port);
  req.set(http::field::user_agent, "drawbridge-acme/" DRAWBRIDGE_VERSION);
  if (!request.accept.empty()) req.set(http::field::accept, request.accept);
  if (!request.body.empty() || request.method == http::verb::post) {
    req.set(http::field::content_type, request.content_type);
    req.body() = request.body;
    req.prepare_payload();
  }
  req.keep_alive(false);
  auto [wec, written] = co_await http::async_write(c->stream, req, use_tuple);
  if (wec) {
    failed("cannot send to", wec);
    co_return reply;
  }
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_reply_body);
  parser.skip(request.method == http::verb::head);  // a HEAD answer's Content-Length announces no body
  parser.header_limit(64 * 1024);
  auto [rdec, read] = co_await http::async_read(c->stream, buffer, parser, use_tuple);
  if (rdec) {
    failed("no answer from", rdec);
    co_return reply;
  }
  const auto& res = parser.get();
  reply.status = res.result_int();
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto& value = reply.headers[name];
    value += (value.empty() ? "" : ", ") + std::string(field.value());
  }
  reply.body = res.body();
  boost::system::error_code ignored;
  c->stream.lowest_layer().close(ignored);
  co_return reply;
}

}  // namespace drawbridge::acme
