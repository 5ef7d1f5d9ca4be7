#pragma once
// Open client connections per client address, shared by all workers (limits.max_connections_per_ip), so
// that one address cannot take every connection the proxy allows. An IPv4 address counts whole (one
// seen IPv4-mapped counts as itself); an IPv6 address by its /64, the block one subscriber is given (a
// client with a /64 has 2^64 addresses to rotate through).
//
// Any thread. A mutex, not a lock-free map: it is taken twice per connection (accept and close), and only
// when the limit is on; the request path never touches it.

#include <array>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace drawbridge::proxy {

class connections_per_address {
 public:
  explicit connections_per_address(std::uint64_t limit) : limit_(limit) {}

  bool enabled() const { return limit_ != 0; }
  // Counts a new connection from `address`; false (and nothing counted) when that address has `limit`
  // open already.
  bool try_open(const boost::asio::ip::address& address);
  // A connection counted by try_open closed.
  void close(const boost::asio::ip::address& address);
  // Connections open from `address` (tests, metrics).
  std::uint64_t open(const boost::asio::ip::address& address) const;

 private:
  using key = std::array<unsigned char, 16>;  // the IPv6 form (IPv4 mapped)
  struct key_hash {
    std::size_t operator()(const key& k) const noexcept;
  };
  static key key_of(const boost::asio::ip::address& address);

  const std::uint64_t limit_;
  mutable std::mutex mutex_;
  std::unordered_map<key, std::uint64_t, key_hash> open_;
};

}  // namespace drawbridge::proxy
