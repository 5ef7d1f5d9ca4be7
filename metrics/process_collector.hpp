#pragma once
// The process itself: drawbridge_build_info and the standard process_ series (CPU, memory, file
// descriptors, start time), read from /proc/self at each scrape.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

namespace drawbridge::metrics {

class process_collector final : public prometheus::Collectable {
 public:
  // Any thread. The process_ families are left out when /proc cannot be read.
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace drawbridge::metrics
