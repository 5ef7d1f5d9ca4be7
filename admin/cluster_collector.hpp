#pragma once
// drawbridge_cluster_connected and drawbridge_cluster_replicas: whether this replica reaches the cluster's
// Redis, and how many live replicas (this one included) it saw at its last read of their heartbeats.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

#include "cluster/cluster_link.hpp"

namespace drawbridge::admin {

class cluster_collector final : public prometheus::Collectable {
 public:
  // `link` is read at each Collect() and must outlive the collector. Control thread (its owner's).
  explicit cluster_collector(const cluster::cluster_link& link) : link_(link) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const cluster::cluster_link& link_;
};

}  // namespace drawbridge::admin
