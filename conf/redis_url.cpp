// cluster.redis: the three URL forms drawbridge reaches Redis by.

#include <charconv>

#include "conf/config.hpp"

namespace drawbridge::conf {

namespace {

bool parse_db(std::string_view text, std::uint32_t& db) {
  // Redis has 16 databases unless its config says otherwise; anything past 9999 is a typo.
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), db);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty() && db <= 9999;
}

}  // namespace

std::optional<redis_url> parse_redis_url(std::string_view text, std::string& error) {
  redis_url url;
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) {
    error = "expected redis://host:port/db, rediss://host:port/db or unix:///path, got \"" + std::string(text) + "\"";
    return std::nullopt;
  }
  const auto scheme = text.substr(0, scheme_end);
  auto rest = text.substr(scheme_end + 3);
  if (scheme == "unix") {
    url.scheme = redis_url::kind::unix_socket;
    const auto query = rest.find('?');
    url.path = std::string(rest.substr(0, query));
    if (url.path.empty() || url.path.front() != '/') {
      error = "a unix:// URL takes an absolute socket path (unix:///run/redis.sock), got \"" + std::string(text) + "\"";
      return std::nullopt;
    }
    if (query != std::string_view::npos) {
      const auto q = rest.substr(query + 1);
      if (q.substr(0, 3) != "db=" || !parse_db(q.substr(3), url.db)) {
        error = "a unix:// URL takes only ?db=N (0 to 9999), got \"?" + std::string(q) + "\"";
        return std::nullopt;
      }
    }
    return url;
  }
  if (scheme == "redis") {
    url.scheme = redis_url::kind::tcp;
  } else if (scheme == "rediss") {
    url.scheme = redis_url::kind::tls;
  } else {
    error = "expected the scheme redis, rediss or unix, got \"" + std::string(scheme) + "\"";
    return std::nullopt;
  }
  if (rest.find('@') != std::string_view::npos) {
    // A password in the config file would end up in logs and in /v1/cluster: it has a file of its own.
    error = "put the password in cluster.password_file, not in the URL";
    return std::nullopt;
  }
  const auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    const auto db = rest.substr(slash + 1);
    if (!db.empty() && !parse_db(db, url.db)) {
      error = "expected a database number (0 to 9999) after the '/', got \"" + std::string(db) + "\"";
      return std::nullopt;
    }
  }
  // The port is optional here (6379), unlike a node's address.
  const bool has_port = !authority.empty() && authority.back() != ']' &&
                        authority.find(':') != std::string_view::npos &&
                        (authority.front() == '[' || authority.find(':') == authority.rfind(':'));
  const std::string with_port = has_port ? std::string(authority) : std::string(authority) + ":6379";
  const auto hp = parse_host_port(with_port);
  if (!hp || hp->port == 0) {
    error = "expected host or host:port (port 1 to 65535) after \"" + std::string(scheme) + "://\", got \"" +
            std::string(authority) + "\"";
    return std::nullopt;
  }
  url.host = hp->host;
  url.port = hp->port;
  return url;
}

std::string to_string(const redis_url& url) {
  if (url.scheme == redis_url::kind::unix_socket)
    return "unix://" + url.path + (url.db == 0 ? "" : "?db=" + std::to_string(url.db));
  return std::string(url.scheme == redis_url::kind::tls ? "rediss://" : "redis://") +
         to_string(host_port{url.host, url.port}) + "/" + std::to_string(url.db);
}

}  // namespace drawbridge::conf
