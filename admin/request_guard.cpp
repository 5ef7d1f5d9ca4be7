#include "admin/request_guard.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/string.hpp>
#include <optional>
#include <string>

#include "proxy/field_text.hpp"

namespace drawbridge::admin {

namespace http = boost::beast::http;
using proxy::trim_ows;

namespace {

// "9901" → 9901; nullopt for anything but 1 to 5 digits up to 65535.
std::optional<unsigned> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned port = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port > 65535) return std::nullopt;
  return port;
}

}  // namespace

bool sent_by_a_web_page(const http::fields& fields) {
  if (fields.find(http::field::origin) != fields.end()) return true;
  const auto site = fields.find("Sec-Fetch-Site");
  if (site == fields.end()) return false;
  const auto value = trim_ows(site->value());
  return !proxy::iequals_ascii(value, "none") && !proxy::iequals_ascii(value, "same-origin");
}

bool names_the_listener(std::string_view host, const boost::asio::ip::tcp::endpoint& listener) {
  host = trim_ows(host);
  std::string_view name = host;
  std::optional<unsigned> port;
  bool bracketed = false;
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    name = host.substr(1, close - 1);
    const auto rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || !(port = parse_port(rest.substr(1)))) return false;
    }
    bracketed = true;
  } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    if (name.find(':') != std::string_view::npos || !(port = parse_port(host.substr(colon + 1)))) return false;
  }
  if (!bracketed && proxy::iequals_ascii(name, "localhost")) return !port || *port == listener.port();
  // Without a port the client meant port 80.
  if (port.value_or(80) != listener.port()) return false;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(std::string(name), ec);
  if (ec || address.is_v6() != bracketed) return false;
  return address == listener.address();
}

bool is_json_media_type(std::string_view content_type) {
  return proxy::iequals_ascii(proxy::media_type(content_type), "application/json");
}

}  // namespace drawbridge::admin
