#include "admin/config_collector.hpp"

#include "metrics/family.hpp"

namespace drawbridge::admin {

std::vector<prometheus::MetricFamily> config_collector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  auto& reloads = out.emplace_back(metrics::family(
      "drawbridge_config_reloads_total", prometheus::MetricType::Counter,
      "Config reloads since the process started, by result (ok, or failed: the running config stayed)."));
  metrics::add_sample(reloads, {{"result", "ok"}}, static_cast<double>(status_.reloads_ok));
  metrics::add_sample(reloads, {{"result", "failed"}}, static_cast<double>(status_.reloads_failed));
  auto& generation = out.emplace_back(metrics::family("drawbridge_config_generation", prometheus::MetricType::Gauge,
                                                      "Config reloads applied since the process started."));
  metrics::add_sample(generation, {}, static_cast<double>(status_.generation));
  return out;
}

}  // namespace drawbridge::admin
