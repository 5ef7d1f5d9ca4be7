#pragma once
// One HTTPS request to an ACME server and its answer: a fresh connection each time (an order is a
// handful of requests, minutes apart at most), the server's certificate verified against `trust` and its
// name, the whole exchange under one deadline, the answer's body capped. Runs on the caller's io_context
// (the control thread's).

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "net/awaitable.hpp"

namespace drawbridge::acme {

struct https_url {
  std::string host;  // without brackets for IPv6
  std::string port = "443";
  std::string target = "/";  // path and query
};
// "https://host[:port][/path]"; nullopt for anything else.
std::optional<https_url> parse_https_url(const std::string& url);

struct https_reply {
  std::string error;  // non-empty: no answer (connect, TLS, timeout, a malformed or oversized answer)
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // lower-case names; a repeated field's values joined by ", "
  std::string body;

  std::string header(const std::string& name) const {
    const auto found = headers.find(name);
    return found == headers.end() ? std::string() : found->second;
  }
};

struct https_request {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string url{};
  std::string body{};
  std::string content_type{};  // sent with a body
  std::string accept{};        // empty: none
};

// The largest answer body taken: certificate chains and ACME objects are a few kilobytes.
inline constexpr std::size_t max_reply_body = 1 << 20;

// `request` must outlive the coroutine: pass a named object, never a temporary (g++ 12 mishandles
// temporaries, and by-value parameters made from them, in a co_await expression: it frees them twice).
net_types::task<https_reply> fetch(boost::asio::ssl::context& trust, const https_request& request,
                                   std::chrono::milliseconds timeout);

}  // namespace drawbridge::acme
