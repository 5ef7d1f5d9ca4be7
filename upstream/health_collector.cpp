#include "upstream/health_collector.hpp"

#include "metrics/family.hpp"

namespace drawbridge::upstream {

using metrics::add_sample;
using metrics::family;
using prometheus::MetricType;

std::vector<prometheus::MetricFamily> health_collector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  out.reserve(2);
  auto& healthy = out.emplace_back(family("drawbridge_node_healthy", MetricType::Gauge,
                                          "1 when a node's health checks pass (or it has none), else 0."));
  auto& checks = out.emplace_back(family("drawbridge_health_checks_total", MetricType::Counter,
                                         "Active health checks, by result (passed or failed)."));
  for (const auto& g : upstreams_) {
    const auto nodes = g->nodes();  // one list for both families
    for (const auto& n : *nodes)
      add_sample(healthy, {{"upstream", g->name()}, {"node", n->name()}},
                 n->health.load() == health_state::healthy ? 1 : 0);
    for (const auto& n : *nodes) {
      add_sample(checks, {{"upstream", g->name()}, {"node", n->name()}, {"result", "passed"}},
                 static_cast<double>(n->health_checks_passed.value()));
      add_sample(checks, {{"upstream", g->name()}, {"node", n->name()}, {"result", "failed"}},
                 static_cast<double>(n->health_checks_failed.value()));
    }
  }
  return out;
}

}  // namespace drawbridge::upstream
