#include "proxy/version_affinity.hpp"

#include "proxy/field_text.hpp"

namespace drawbridge::proxy {

namespace http = boost::beast::http;

std::string_view cookie_value(const http::fields& request, std::string_view name) {
  const auto [first, last] = request.equal_range(http::field::cookie);
  for (auto field = first; field != last; ++field) {
    std::string_view rest(field->value().data(), field->value().size());
    while (!rest.empty()) {
      const auto semicolon = rest.find(';');
      const auto pair = trim_ows(rest.substr(0, semicolon));
      rest = semicolon == std::string_view::npos ? std::string_view() : rest.substr(semicolon + 1);
      const auto equals = pair.find('=');
      if (equals == std::string_view::npos || trim_ows(pair.substr(0, equals)) != name) continue;
      auto value = trim_ows(pair.substr(equals + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      return value;
    }
  }
  return {};
}

named_version version_named_by(const http::fields& request, const conf::version_affinity_config& config) {
  named_version named;
  named.cookie = cookie_value(request, config.cookie);
  const auto header = request[config.header];
  named.version = header.empty() ? named.cookie : std::string_view(header.data(), header.size());
  return named;
}

bool is_static_asset(const http::request_header<>& request) {
  const auto target = request.target();
  return request.method() == http::verb::get && target.starts_with("/static/");
}

bool version_cookie_filter::start(const response_facts& /*facts*/, http::response_header<>& head) {
  if (!config_ || !node_version_ || request_cookie_ == *node_version_) return false;
  // A page, not an error page: a node's 404 or 503 page does not say which version the client loaded.
  if (head.result_int() < 200 || head.result_int() >= 400) return false;
  const auto type = head[http::field::content_type];
  if (!iequals_ascii(media_type({type.data(), type.size()}), "text/html")) return false;
  std::string cookie = config_->cookie;
  cookie += '=';
  cookie += *node_version_;  // a valid version (upstream/node_version.hpp): nothing to quote
  cookie += "; Path=/; HttpOnly; SameSite=Lax";
  if (https_) cookie += "; Secure";
  head.insert(http::field::set_cookie, cookie);
  return false;  // the body passes untouched
}

}  // namespace drawbridge::proxy
