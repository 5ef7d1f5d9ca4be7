#include "tests/support/test_client.hpp"

#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <thread>

namespace drawbridge::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {
void set_timeouts(tcp::socket& socket, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}
}  // namespace

test_client::test_client(std::uint16_t port, std::chrono::seconds timeout) : socket_(ioc_) {
  boost::system::error_code ec;
  socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) {
    socket_.close(ec);  // asio leaves a failed socket open: connected() must say false
    return;
  }
  set_timeouts(socket_, timeout);
}

test_client::~test_client() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

http_response test_client::request(http::verb method, const std::string& target, std::string body,
                                   const std::vector<std::pair<std::string, std::string>>& headers) {
  http_response out;
  if (!socket_.is_open()) {
    out.error = "not connected";
    return out;
  }
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "localhost");
  for (auto& [name, value] : headers) req.set(name, value);
  if (!body.empty() || method == http::verb::post || method == http::verb::put) {
    req.body() = std::move(body);
    req.prepare_payload();
  }
  boost::system::error_code ec;
  http::write(socket_, req, ec);
  if (ec) {
    out.error = "write: " + ec.message();
    return out;
  }
  beast::flat_buffer buffer;
  buffer.commit(net::buffer_copy(buffer.prepare(buffer_.size()), net::buffer(buffer_)));
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  if (method == http::verb::head) parser.skip(true);
  http::read(socket_, buffer, parser, ec);
  if (ec) {
    out.error = "read: " + ec.message();
    socket_.close(ec);
    return out;
  }
  buffer_.assign(static_cast<const char*>(buffer.data().data()), buffer.size());
  auto res = parser.release();
  out.status = res.result_int();
  out.keep_alive = res.keep_alive();
  out.body = std::move(res.body());
  out.headers = std::move(res.base());
  if (!out.keep_alive) socket_.close(ec);
  return out;
}

raw_result raw_exchange(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout) {
  raw_result result;
  net::io_context ioc;
  tcp::socket socket(ioc);
  boost::system::error_code ec;
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return result;
  set_timeouts(socket, timeout);
  net::write(socket, net::buffer(bytes), ec);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[8192];
  for (;;) {
    const auto n = socket.read_some(net::buffer(buf), ec);
    result.received.append(buf, n);
    if (ec == net::error::eof) break;
    if (ec == net::error::connection_reset) {
      result.reset = true;
      break;
    }
    if (ec == net::error::would_block || ec == net::error::try_again || ec == net::error::timed_out ||
        std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      break;
    }
    if (ec) break;
  }
  return result;
}

flood_result flood(std::uint16_t port, std::string_view head, std::string_view filler, std::uint64_t total,
                   std::chrono::milliseconds timeout) {
  flood_result result;
  net::io_context ioc;
  tcp::socket socket(ioc);
  boost::system::error_code ec;
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return result;
  const int fd = socket.native_handle();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string_view pending = head;
  while (result.sent < total && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN | POLLOUT, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) break;  // the answer (or the end) has come
    if (pending.empty()) pending = filler;
    const auto n = ::send(fd, pending.data(), std::min<std::uint64_t>(pending.size(), total - result.sent),
                          MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) continue;
      break;  // reset or closed: what the peer said, if anything, is read below
    }
    result.sent += static_cast<std::uint64_t>(n);
    pending.remove_prefix(static_cast<std::size_t>(n));
  }
  char buf[8192];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const auto n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      result.received.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    return result;  // closed or reset
  }
  result.timed_out = true;
  return result;
}

unsigned first_status(std::string_view raw) {
  if (raw.size() < 12 || raw.substr(0, 5) != "HTTP/") return 0;
  return static_cast<unsigned>(std::stoul(std::string(raw.substr(9, 3))));
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += digits[digest[i] >> 4];
    out += digits[digest[i] & 15];
  }
  return out;
}

}  // namespace drawbridge::testing
