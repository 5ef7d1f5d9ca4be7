#include "admin/acme_collector.hpp"

#include "metrics/family.hpp"

namespace drawbridge::admin {

std::vector<prometheus::MetricFamily> acme_collector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  auto& orders = out.emplace_back(metrics::family(
      "drawbridge_acme_orders_total", prometheus::MetricType::Counter,
      "ACME certificate orders since the process started, by result: ok, refused (the CA refused, or the order "
      "failed), unreachable (no order could be placed)."));
  metrics::add_sample(orders, {{"result", "ok"}}, static_cast<double>(counts_.ok));
  metrics::add_sample(orders, {{"result", "refused"}}, static_cast<double>(counts_.refused));
  metrics::add_sample(orders, {{"result", "unreachable"}}, static_cast<double>(counts_.unreachable));
  return out;
}

}  // namespace drawbridge::admin
