#include "admin/admin_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cctype>
#include <fstream>
#include <sstream>
#include <string_view>

#include "admin/tokens.hpp"

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

namespace {

std::string_view trim_spaces(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

// Host names compare without case; a literal address is written one way by the time it reaches here.
bool same_endpoint(const admin_target& a, const admin_target& b) {
  if (a.port != b.port || a.host.size() != b.host.size()) return false;
  for (std::size_t i = 0; i < a.host.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a.host[i])) != std::tolower(static_cast<unsigned char>(b.host[i])))
      return false;
  return true;
}

}  // namespace

std::optional<std::vector<admin_url_entry>> parse_admin_urls(const std::string& list, std::string& error) {
  std::vector<admin_url_entry> endpoints;
  const bool several = list.find(',') != std::string::npos;
  const std::string_view whole(list);
  for (std::size_t start = 0;;) {
    const auto comma = whole.find(',', start);
    const auto item =
        trim_spaces(whole.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    // A single URL, even an empty one, is parse_admin_url's to judge: its messages stay what they were.
    if (item.empty() && several) {
      error = "--admin: an empty item in \"";
      error.append(list).append("\" (several admin URLs are separated by commas, one per replica)");
      return std::nullopt;
    }
    std::string url(item);
    auto target = parse_admin_url(url, error);
    if (!target) return std::nullopt;
    for (const auto& seen : endpoints) {
      if (!same_endpoint(seen.target, *target)) continue;
      error = "--admin: ";
      error.append(url).append(" names the same admin API as ").append(seen.url).append(" (each replica once)");
      return std::nullopt;
    }
    endpoints.push_back(admin_url_entry{std::move(url), std::move(*target)});
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return endpoints;
}

std::string host_field(const admin_target& target) {
  if (target.host.find(':') != std::string::npos) return "[" + target.host + "]:" + target.port;
  return target.host + ":" + target.port;
}

std::string read_first_token(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  const auto tokens = parse_token_lines(text.str());
  return tokens.empty() ? std::string() : tokens.front().token;
}

admin_reply admin_client::call(http::verb method, const std::string& target, const std::string& body,
                               std::chrono::milliseconds timeout) const {
  // Asynchronous operations run for at most `timeout`: blocking calls with socket timeouts would not do,
  // as Asio's blocking reads wait again when the kernel's timeout fires.
  net::io_context io;
  tcp::resolver resolver(io);
  tcp::socket socket(io);
  boost::beast::flat_buffer buffer;
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, host_field(target_));
  req.set(http::field::user_agent, "drawbridge-cli");
  if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.keep_alive(false);
  req.prepare_payload();
  http::response<http::string_body> res;

  admin_reply reply;
  boost::system::error_code failure;
  bool done = false;
  auto fail = [&](boost::system::error_code ec) {
    failure = ec;
    done = true;
  };
  resolver.async_resolve(target_.host, target_.port,
                         [&](boost::system::error_code ec, const tcp::resolver::results_type& found) {
                           if (ec) return fail(ec);
                           net::async_connect(socket, found, [&](boost::system::error_code cec, const tcp::endpoint&) {
                             if (cec) return fail(cec);
                             http::async_write(socket, req, [&](boost::system::error_code wec, std::size_t) {
                               if (wec) return fail(wec);
                               http::async_read(socket, buffer, res, [&](boost::system::error_code rec, std::size_t) {
                                 if (rec) return fail(rec);
                                 done = true;
                               });
                             });
                           });
                         });
  io.run_for(timeout);
  if (!done) {
    reply.error = "no answer from the admin API within " + std::to_string(timeout.count() / 1000) + "s";
    return reply;
  }
  if (failure) {
    reply.error = failure.message();
    return reply;
  }
  reply.status = res.result_int();
  reply.body = std::move(res.body());
  return reply;
}

}  // namespace drawbridge::admin
