#include "admin/admin_actions_collector.hpp"

#include "metrics/family.hpp"

namespace drawbridge::admin {

std::vector<prometheus::MetricFamily> admin_actions_collector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  auto& f = out.emplace_back(metrics::family("drawbridge_admin_actions_total", prometheus::MetricType::Counter,
                                             "Admin API actions, by action and result (ok or the error code)."));
  for (const auto& [key, count] : actions_)
    metrics::add_sample(f, {{"action", key.first}, {"result", key.second}}, static_cast<double>(count));
  return out;
}

}  // namespace drawbridge::admin
