#include "admin/admin_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fstream>

namespace drawbridge::admin {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

std::optional<admin_target> parse_admin_url(const std::string& url, std::string& error) {
  constexpr std::string_view scheme = "http://";
  std::string_view rest = url;
  if (rest.substr(0, scheme.size()) != scheme) {
    error = "the admin URL must start with http://, got \"" + url + "\"";
    return std::nullopt;
  }
  rest.remove_prefix(scheme.size());
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size() ||
      rest.find('/') != std::string_view::npos) {
    error = "the admin URL must be http://HOST:PORT, got \"" + url + "\"";
    return std::nullopt;
  }
  admin_target target{std::string(rest.substr(0, colon)), std::string(rest.substr(colon + 1))};
  if (target.host.size() > 2 && target.host.front() == '[' && target.host.back() == ']')
    target.host = target.host.substr(1, target.host.size() - 2);
  return target;
}

std::string read_first_token(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    if (const auto colon = line.find(':'); colon != std::string::npos) line = line.substr(colon + 1);
    while (!line.empty() && line.front() == ' ') line.erase(0, 1);
    if (!line.empty()) return line;
  }
  return {};
}

admin_reply admin_client::call(http::verb method, const std::string& target, const std::string& body,
                               std::chrono::milliseconds timeout) const {
  admin_reply reply;
  try {
    net::io_context io;
    tcp::resolver resolver(io);
    tcp::socket socket(io);
    net::connect(socket, resolver.resolve(target_.host, target_.port));
    // Blocking calls bounded by socket timeouts: the simplest way to never hang a deploy script.
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, target_.host + ":" + target_.port);
    req.set(http::field::user_agent, "drawbridge-cli");
    if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.keep_alive(false);
    req.prepare_payload();
    http::write(socket, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    reply.status = res.result_int();
    reply.body = std::move(res.body());
  } catch (const boost::system::system_error& e) {
    const bool timed_out = e.code() == net::error::would_block || e.code() == net::error::timed_out;
    reply.error = timed_out ? "no answer from the admin API within the timeout" : e.code().message();
  }
  return reply;
}

}  // namespace drawbridge::admin
