#pragma once
// What the workers count outside any upstream: requests answered without routing, refusals by reason,
// downstream connections by listener, body bytes, the gzip filter's bytes, and the log lines dropped.
// Per-upstream counts are upstream_collector's (upstream/), TLS handshakes tls_collector's.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <vector>

#include "metrics/shards.hpp"
#include "proxy/listener.hpp"

namespace drawbridge::proxy {

class worker_collector final : public prometheus::Collectable {
 public:
  // Both are read at each Collect() and must outlive the collector. Any thread.
  worker_collector(const metrics::registry& workers, const std::vector<std::shared_ptr<listener>>& listeners)
      : workers_(workers), listeners_(listeners) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const metrics::registry& workers_;
  const std::vector<std::shared_ptr<listener>>& listeners_;
};

}  // namespace drawbridge::proxy
