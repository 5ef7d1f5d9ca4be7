#include "proxy/connections_per_address.hpp"

#include <algorithm>
#include <cstring>

namespace drawbridge::proxy {

namespace ip = boost::asio::ip;

connections_per_address::key connections_per_address::key_of(const ip::address& address) {
  if (address.is_v4()) return ip::make_address_v6(ip::v4_mapped, address.to_v4()).to_bytes();
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) return v6.to_bytes();
  auto bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);  // the /64
  return bytes;
}

std::size_t connections_per_address::key_hash::operator()(const key& k) const noexcept {
  std::uint64_t a = 0, b = 0;
  std::memcpy(&a, k.data(), 8);
  std::memcpy(&b, k.data() + 8, 8);
  return std::hash<std::uint64_t>{}(a * 0x9e3779b97f4a7c15ULL ^ b);
}

bool connections_per_address::try_open(const ip::address& address) {
  const auto k = key_of(address);
  const std::lock_guard lock(mutex_);
  auto& count = open_[k];
  if (count >= limit_.load(std::memory_order_relaxed)) {
    if (count == 0) open_.erase(k);
    return false;
  }
  ++count;
  return true;
}

void connections_per_address::close(const ip::address& address) {
  const auto k = key_of(address);
  const std::lock_guard lock(mutex_);
  const auto it = open_.find(k);
  if (it == open_.end()) return;
  if (--it->second == 0) open_.erase(it);  // the map holds only addresses with connections open
}

std::uint64_t connections_per_address::open(const ip::address& address) const {
  const std::lock_guard lock(mutex_);
  const auto it = open_.find(key_of(address));
  return it == open_.end() ? 0 : it->second;
}

}  // namespace drawbridge::proxy
