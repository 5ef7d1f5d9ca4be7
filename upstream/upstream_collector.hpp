#pragma once
// The metrics of upstreams and their nodes: requests by code, durations, retries, in-flight and tunnel
// gauges, state, failures, ejections and pooled-connection reuse. The health checks' series are
// health_collector's.
//
// Everything is looked up at scrape time: the upstream list the collector was given and each upstream's
// current node list, so a node added through the admin API shows at the next scrape. A node's counts live
// in the node (its per-worker stats); an upstream's in the registry, under the upstream's name.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <vector>

#include "metrics/shards.hpp"
#include "upstream/upstream_group.hpp"

namespace drawbridge::upstream {

class upstream_collector final : public prometheus::Collectable {
 public:
  // Both are read at each Collect() and must outlive the collector. Collect() may run on any thread: it
  // reads atomics, node-list snapshots and the workers' single-writer counters.
  upstream_collector(const std::vector<std::shared_ptr<upstream_group>>& upstreams, const metrics::registry& workers)
      : upstreams_(upstreams), workers_(workers) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::vector<std::shared_ptr<upstream_group>>& upstreams_;
  const metrics::registry& workers_;
};

}  // namespace drawbridge::upstream
