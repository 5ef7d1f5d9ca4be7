#pragma once
// An IP network as written in trusted_proxies: "10.0.0.0/8", "2001:db8::/32", or a bare address, which
// stands for itself alone (/32 or /128).

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace drawbridge::conf {

struct ip_network {
  std::array<std::uint8_t, 16> bytes{};  // the network's address, host bits cleared; IPv4 in the first 4
  bool v6 = false;
  unsigned prefix = 0;  // 0..32 or 0..128

  // `address`: 4 bytes (IPv4) or 16 (IPv6), network order. An IPv4 address never matches an IPv6 network
  // (callers turn v4-mapped IPv6 addresses into IPv4 first).
  bool contains(std::span<const std::uint8_t> address) const;
  bool operator==(const ip_network&) const = default;
};

// nullopt unless `text` is an IPv4 or IPv6 address, optionally followed by "/prefix" within the
// address's length. Host bits set after the prefix ("10.1.2.3/8") are cleared, as most tools do.
std::optional<ip_network> parse_ip_network(std::string_view text);

// "10.0.0.0/8", "::1/128".
std::string to_string(const ip_network& network);

}  // namespace drawbridge::conf
