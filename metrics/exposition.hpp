#pragma once
// What a scrape of /metrics returns: the families of every registered collector, serialised by
// prometheus-cpp's TextSerializer in the text exposition format, version 0.0.4.

#include <prometheus/collectable.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace drawbridge::metrics {

inline constexpr std::string_view exposition_content_type = "text/plain; version=0.0.4; charset=utf-8";

using collector_list = std::vector<std::shared_ptr<const prometheus::Collectable>>;

// Collects each collector in order and serialises the lot. Families of one name from several collectors
// (each component adds its own series to drawbridge_requests_total) become one family, at the place of
// the first, so the text declares each name once as the format asks.
std::string expose(const collector_list& collectors);

}  // namespace drawbridge::metrics
