#pragma once
// drawbridge_config_reloads_total{result} and drawbridge_config_generation: the config reloads this process
// applied or refused since it started (control_plane::reload).

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

#include "admin/control_plane.hpp"

namespace drawbridge::admin {

class config_collector final : public prometheus::Collectable {
 public:
  // `status` is read at each Collect() and must outlive the collector. Control thread (its owner's).
  explicit config_collector(const config_status& status) : status_(status) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const config_status& status_;
};

}  // namespace drawbridge::admin
