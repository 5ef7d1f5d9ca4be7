#pragma once
// "host:port" and "[v6]:port" as written in listeners and nodes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace drawbridge::conf {

struct host_port {
  std::string host;  // without brackets for IPv6 literals
  std::uint16_t port = 0;
  bool operator==(const host_port&) const = default;
};

// nullopt when the port is missing, not a number, or above 65535, or the host is empty, or the host is
// neither a name (letters, digits, '-', '.', '_') nor, between brackets, an IPv6 address (with an
// optional "%zone"). A bare IPv6 address without brackets is refused: "::1:80" is ambiguous.
// Port 0 is accepted (listeners use it in tests to let the kernel choose).
std::optional<host_port> parse_host_port(std::string_view text);

// "[::1]:80" for IPv6 hosts, "a.b:80" otherwise.
std::string to_string(const host_port& hp);

}  // namespace drawbridge::conf
