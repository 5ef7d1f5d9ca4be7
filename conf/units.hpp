#pragma once
// Durations ("250ms", "30s", "5m", "1h", "30d") and sizes (bytes, "16k", "150m", "1g") as the config writes them.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace drawbridge::conf {

using duration = std::chrono::milliseconds;

// Parses "<digits><unit>" with unit ms, s, m, h or d (days: certificate lifetimes). Returns nullopt on anything else
// (no sign, no fraction, no missing unit), so that a typo never silently becomes a different timeout.
std::optional<duration> parse_duration(std::string_view text);

// Parses "<digits>[k|m|g]" (binary multiples, case-insensitive). Returns nullopt on overflow or junk.
std::optional<std::uint64_t> parse_size(std::string_view text);

// The inverse, for messages and `check` output: 90000ms → "90s", 1048576 → "1m".
std::string format_duration(duration d);
std::string format_size(std::uint64_t bytes);

}  // namespace drawbridge::conf
