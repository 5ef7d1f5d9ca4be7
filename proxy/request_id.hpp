#pragma once
// X-Request-Id: a valid incoming UUID is kept, anything else is replaced by a fresh version-4 UUID.

#include <cstdint>
#include <string>
#include <string_view>

namespace drawbridge::proxy {

// 8-4-4-4-12 hexadecimal digits, either case; any version.
bool is_valid_uuid(std::string_view text);

// Version-4 UUIDs from a per-worker generator (not thread-safe by design: one per worker).
class request_id_generator {
 public:
  explicit request_id_generator(std::uint64_t seed);
  // Lower-case, 36 characters.
  std::string next();

 private:
  std::uint64_t next_random();
  std::uint64_t s0_;
  std::uint64_t s1_;
};

// Seeds that differ per worker and per process start, from std::random_device.
std::uint64_t random_seed();

}  // namespace drawbridge::proxy
