#include "admin/cluster_collector.hpp"

#include "metrics/family.hpp"

namespace drawbridge::admin {

std::vector<prometheus::MetricFamily> cluster_collector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  auto& connected = out.emplace_back(
      metrics::family("drawbridge_cluster_connected", prometheus::MetricType::Gauge,
                      "1 while this replica reaches the cluster's Redis; 0 while it serves on with the last shared "
                      "state it had and refuses admin changes."));
  metrics::add_sample(connected, {{"cluster", link_.config().name}, {"replica", link_.replica()}},
                      link_.connected() ? 1 : 0);
  auto& replicas = out.emplace_back(metrics::family(
      "drawbridge_cluster_replicas", prometheus::MetricType::Gauge,
      "Live replicas of the cluster (this one included) at the last read of their heartbeats; 0 while Redis is "
      "unreachable."));
  metrics::add_sample(replicas, {{"cluster", link_.config().name}},
                      link_.connected() ? static_cast<double>(link_.peers().size() + 1) : 0);
  return out;
}

}  // namespace drawbridge::admin
