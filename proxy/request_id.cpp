#include "proxy/request_id.hpp"

#include <random>

namespace drawbridge::proxy {

bool is_valid_uuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
}  // namespace

std::uint64_t random_seed() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

request_id_generator::request_id_generator(std::uint64_t seed) {
  s0_ = splitmix64(seed);
  s1_ = splitmix64(seed);
}

std::uint64_t request_id_generator::next_random() {
  // xorshift128+: request ids need uniqueness, not cryptographic strength.
  std::uint64_t a = s0_;
  const std::uint64_t b = s1_;
  s0_ = b;
  a ^= a << 23;
  s1_ = a ^ b ^ (a >> 17) ^ (b >> 26);
  return s1_ + b;
}

std::string request_id_generator::next() {
  static constexpr char hex[] = "0123456789abcdef";
  std::uint64_t hi = next_random();
  std::uint64_t lo = next_random();
  hi = (hi & ~0xF000ULL) | 0x4000ULL;                  // version 4
  lo = (lo & ~(0xC000ULL << 48)) | (0x8000ULL << 48);  // variant 10xx
  std::string out(36, '-');
  std::size_t pos = 0;
  auto put = [&](std::uint64_t value, int nibbles) {
    for (int i = nibbles - 1; i >= 0; --i) {
      if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
      out[pos++] = hex[(value >> (i * 4)) & 0xF];
    }
  };
  put(hi, 16);
  put(lo, 16);
  return out;
}

}  // namespace drawbridge::proxy
