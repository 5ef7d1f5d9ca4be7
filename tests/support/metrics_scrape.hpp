#pragma once
// Reading one family from the admin API's /metrics, for tests that wait on a gauge (connections open
// now, say) without reaching into the proxy: it works for the in-process proxy and the binary alike.

#include <cstdint>
#include <optional>
#include <string_view>

namespace drawbridge::testing {

// The sum of every sample of `family` (all label sets) in a scrape of 127.0.0.1:`admin_port`/metrics;
// nothing when the scrape failed or has no such sample.
std::optional<double> scraped_sum(std::uint16_t admin_port, std::string_view family);

}  // namespace drawbridge::testing
