#pragma once
// drawbridge_acme_orders_total{result}: certificate orders since the process started (admin/acme_manager),
// by how they ended: ok, refused (the CA said no, or an order placed failed) or unreachable (no order
// could be placed). Certificates' expiry is drawbridge_tls_certificate_expiry_timestamp_seconds
// (proxy/tls_collector), whatever their source.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

#include "admin/acme_manager.hpp"

namespace drawbridge::admin {

class acme_collector final : public prometheus::Collectable {
 public:
  // `counts` is read at each Collect() and must outlive the collector. Control thread.
  explicit acme_collector(const acme_counts& counts) : counts_(counts) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const acme_counts& counts_;
};

}  // namespace drawbridge::admin
