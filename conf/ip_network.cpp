#include "conf/ip_network.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace drawbridge::conf {

bool ip_network::contains(std::span<const std::uint8_t> address) const {
  if (address.size() != (v6 ? 16u : 4u)) return false;
  const unsigned whole = prefix / 8;
  for (unsigned i = 0; i < whole; ++i)
    if (address[i] != bytes[i]) return false;
  if (const unsigned rest = prefix % 8; rest != 0) {
    const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
    if ((address[whole] & mask) != bytes[whole]) return false;
  }
  return true;
}

std::optional<ip_network> parse_ip_network(std::string_view text) {
  const auto slash = text.find('/');
  // inet_pton wants a terminated string; an address is at most 45 characters (IPv4-suffixed IPv6).
  const auto address = text.substr(0, slash);
  if (address.empty() || address.size() > 45) return std::nullopt;
  const std::string terminated(address);
  ip_network n;
  if (::inet_pton(AF_INET, terminated.c_str(), n.bytes.data()) == 1)
    n.v6 = false;
  else if (::inet_pton(AF_INET6, terminated.c_str(), n.bytes.data()) == 1)
    n.v6 = true;
  else
    return std::nullopt;
  const unsigned bits = n.v6 ? 128 : 32;
  n.prefix = bits;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || digits.size() > 3 || ec != std::errc{} || end != digits.data() + digits.size() ||
        value > bits)
      return std::nullopt;
    n.prefix = value;
  }
  for (unsigned i = 0; i < bits / 8; ++i) {
    const unsigned from = i * 8;
    if (from >= n.prefix)
      n.bytes[i] = 0;
    else if (n.prefix - from < 8)
      n.bytes[i] &= static_cast<std::uint8_t>(0xFF << (8 - (n.prefix - from)));
  }
  return n;
}

std::string to_string(const ip_network& network) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(network.v6 ? AF_INET6 : AF_INET, network.bytes.data(), text, sizeof text);
  return std::string(text) + "/" + std::to_string(network.prefix);
}

}  // namespace drawbridge::conf
