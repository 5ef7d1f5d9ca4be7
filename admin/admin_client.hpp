#pragma once
// The command line's side of the admin API: a blocking HTTP/1.1 client, one connection per call. Used by
// `drawbridge nodes|drain|undrain|rollout`; never by the proxy itself.

#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace drawbridge::admin {

struct admin_target {
  std::string host;
  std::string port;
};

// "http://127.0.0.1:9901" (a trailing slash allowed). nullopt with `error` set otherwise.
std::optional<admin_target> parse_admin_url(const std::string& url, std::string& error);

// One entry of an --admin list: the URL as written (spaces around it dropped) and where it points.
struct admin_url_entry {
  std::string url;
  admin_target target;
};

// --admin's value: one URL, or several separated by commas, one per drawbridge replica ("http://10.0.0.5:9901,
// http://10.0.0.6:9901"). nullopt with `error` set for a bad URL (parse_admin_url's message), an empty item,
// or a replica named twice (the same host and port).
std::optional<std::vector<admin_url_entry>> parse_admin_urls(const std::string& list, std::string& error);

// The Host field for `target`: "127.0.0.1:9901", "[::1]:9901" (the admin API refuses any other shape of a
// literal address).
std::string host_field(const admin_target& target);

// The first token in a token file (the `NAME:` prefix dropped), or empty.
std::string read_first_token(const std::string& path);

struct admin_reply {
  unsigned status = 0;  // 0 when the call did not get an answer
  std::string body;
  std::string error;  // why there is no answer
};

class admin_client {
 public:
  admin_client(admin_target target, std::string token) : target_(std::move(target)), token_(std::move(token)) {}

  // `timeout` bounds the whole call, including the server's own wait.
  admin_reply call(boost::beast::http::verb method, const std::string& target, const std::string& body,
                   std::chrono::milliseconds timeout) const;

 private:
  admin_target target_;
  std::string token_;
};

}  // namespace drawbridge::admin
