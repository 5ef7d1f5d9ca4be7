#pragma once
// TLS toward clients: handshakes by listener and result, and when each served certificate expires (read
// from the listener's current contexts, so a certificate reload shows at the next scrape).

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <vector>

#include "proxy/listener.hpp"

namespace drawbridge::proxy {

class tls_collector final : public prometheus::Collectable {
 public:
  // `listeners` is read at each Collect() and must outlive the collector. Any thread.
  explicit tls_collector(const std::vector<std::shared_ptr<listener>>& listeners) : listeners_(listeners) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::vector<std::shared_ptr<listener>>& listeners_;
};

}  // namespace drawbridge::proxy
