#pragma once
// The active health checks' metrics: each node's healthy gauge and its passed and failed probes. Nodes are
// looked up at scrape time in each upstream's current node list.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <vector>

#include "upstream/upstream_group.hpp"

namespace drawbridge::upstream {

class health_collector final : public prometheus::Collectable {
 public:
  // `upstreams` is read at each Collect() and must outlive the collector. Any thread.
  explicit health_collector(const std::vector<std::shared_ptr<upstream_group>>& upstreams) : upstreams_(upstreams) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::vector<std::shared_ptr<upstream_group>>& upstreams_;
};

}  // namespace drawbridge::upstream
