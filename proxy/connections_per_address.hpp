#pragma once
// Open client connections per client address, shared by all workers (limits.max_connections_per_ip), so
// that one address cannot take every connection the proxy allows. An IPv4 address counts whole (one
// seen IPv4-mapped counts as itself); an IPv6 address by its /64, the block one subscriber is given (a
// client with a /64 has 2^64 addresses to rotate through).
//
// Any thread. A mutex, not a lock-free map: it is taken twice per connection (accept and close), and only
// when the limit is on; the request path never touches it.

#include <array>
#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace drawbridge::proxy {

class connections_per_address {
 public:
  explicit connections_per_address(std::uint64_t limit) : enabled_(limit != 0), limit_(limit) {}

  // Whether connections are counted at all: fixed for the process (a connection opened while nothing was
  // counted must not be subtracted at its end), so a reload may change the limit but not turn it on or off.
  bool enabled() const { return enabled_; }
  // Any thread (a config reload): the limit for connections opened from now on; those open stay.
  void set_limit(std::uint64_t limit) {
    if (enabled_ && limit != 0) limit_.store(limit, std::memory_order_relaxed);
  }
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

  const bool enabled_;
  std::atomic<std::uint64_t> limit_;
  mutable std::mutex mutex_;
  std::unordered_map<key, std::uint64_t, key_hash> open_;
};

}  // namespace drawbridge::proxy
