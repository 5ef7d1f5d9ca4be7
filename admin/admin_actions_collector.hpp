#pragma once
// drawbridge_admin_actions_total: the admin API's calls by action and result, as the API counted them.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace drawbridge::admin {

// Admin API calls by action and result ("ok" or the error code); kept by the API on the control thread.
using action_counts = std::map<std::pair<std::string, std::string>, std::uint64_t>;

class admin_actions_collector final : public prometheus::Collectable {
 public:
  // `actions` is read at each Collect() and must outlive the collector. Control thread (the map's owner).
  explicit admin_actions_collector(const action_counts& actions) : actions_(actions) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const action_counts& actions_;
};

}  // namespace drawbridge::admin
