#include "conf/address.hpp"

#include <cctype>
#include <charconv>

namespace drawbridge::conf {

namespace {

bool is_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// A DNS name (underscores allowed: Docker and Compose service names use them) or an IPv4 address.
bool is_name(std::string_view host) {
  for (const char c : host)
    if (!is_alnum(c) && c != '-' && c != '.' && c != '_') return false;
  return true;
}

// What may stand between the brackets: an IPv6 address, optionally with a "%zone" suffix. Anything else
// (a bracket, a control byte) could not be written back as the same text, so it is refused here rather
// than failing later as an unresolvable name.
bool is_ipv6_literal(std::string_view host) {
  const auto percent = host.find('%');
  const auto address = host.substr(0, percent);
  if (address.find(':') == std::string_view::npos) return false;
  for (const char c : address)
    if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
  if (percent == std::string_view::npos) return true;
  const auto zone = host.substr(percent + 1);
  return !zone.empty() && is_name(zone);
}

}  // namespace

std::optional<host_port> parse_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (!is_ipv6_literal(host)) return std::nullopt;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    // A bare IPv6 literal without brackets is ambiguous ("::1:80"): refuse it.
    if (!is_name(host)) return std::nullopt;
  }
  if (host.empty() || port.empty() || port.size() > 5) return std::nullopt;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || end != port.data() + port.size() || value > 65535) return std::nullopt;
  return host_port{std::string(host), static_cast<std::uint16_t>(value)};
}

std::string to_string(const host_port& hp) {
  if (hp.host.find(':') != std::string::npos) return "[" + hp.host + "]:" + std::to_string(hp.port);
  return hp.host + ":" + std::to_string(hp.port);
}

}  // namespace drawbridge::conf
