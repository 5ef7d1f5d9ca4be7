#include "conf/units.hpp"

#include <cctype>
#include <limits>

namespace drawbridge::conf {
namespace {

// Splits "<digits><suffix>"; false when there are no digits or the number overflows 64 bits.
bool split_number(std::string_view text, std::uint64_t& number, std::string_view& suffix) {
  std::size_t i = 0;
  number = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
    if (number > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;
    number = number * 10 + digit;
    ++i;
  }
  suffix = text.substr(i);
  return i > 0;
}

bool checked_multiply(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

}  // namespace

std::optional<duration> parse_duration(std::string_view text) {
  std::uint64_t number = 0;
  std::string_view unit;
  if (!split_number(text, number, unit)) return std::nullopt;
  std::uint64_t factor = 0;
  if (unit == "ms")
    factor = 1;
  else if (unit == "s")
    factor = 1000;
  else if (unit == "m")
    factor = 60'000;
  else if (unit == "h")
    factor = 3'600'000;
  else if (unit == "d")
    factor = 86'400'000;
  else
    return std::nullopt;
  std::uint64_t ms = 0;
  // Cap far below the int64 range so that deadline arithmetic (now + d) can never overflow.
  constexpr std::uint64_t max_ms = 1000ULL * 3600 * 24 * 365 * 100;
  if (!checked_multiply(number, factor, ms) || ms > max_ms) return std::nullopt;
  return duration{static_cast<duration::rep>(ms)};
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::uint64_t number = 0;
  std::string_view unit;
  if (!split_number(text, number, unit)) return std::nullopt;
  std::uint64_t factor = 1;
  if (unit.empty())
    factor = 1;
  else if (unit.size() == 1 && (unit[0] == 'k' || unit[0] == 'K'))
    factor = 1ULL << 10;
  else if (unit.size() == 1 && (unit[0] == 'm' || unit[0] == 'M'))
    factor = 1ULL << 20;
  else if (unit.size() == 1 && (unit[0] == 'g' || unit[0] == 'G'))
    factor = 1ULL << 30;
  else
    return std::nullopt;
  std::uint64_t bytes = 0;
  if (!checked_multiply(number, factor, bytes)) return std::nullopt;
  return bytes;
}

std::string format_duration(duration d) {
  const auto ms = static_cast<std::uint64_t>(d.count());
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string format_size(std::uint64_t bytes) {
  if (bytes != 0 && bytes % (1ULL << 30) == 0) return std::to_string(bytes >> 30) + "g";
  if (bytes != 0 && bytes % (1ULL << 20) == 0) return std::to_string(bytes >> 20) + "m";
  if (bytes != 0 && bytes % (1ULL << 10) == 0) return std::to_string(bytes >> 10) + "k";
  return std::to_string(bytes);
}

}  // namespace drawbridge::conf
