#include "proxy/runtime.hpp"

namespace drawbridge::proxy {

runtime_result build_runtime(conf::config config) {
  runtime_result result;
  std::vector<std::unique_ptr<listener>> listeners;
  for (const auto& l : config.listeners) {
    listeners.push_back(std::make_unique<listener>(l));
    listeners.back()->index = listeners.size() - 1;
  }
  for (auto& e : load_certificates(listeners)) result.errors.push_back(std::move(e));
  if (!result.errors.empty()) return result;
  auto resolved = upstream::build_upstreams(config.upstreams);
  if (!resolved.errors.empty()) {
    result.errors = std::move(resolved.errors);
    return result;
  }
  std::vector<std::string> names;
  for (const auto& group : resolved.groups) names.push_back(group->name());
  route_table routes(config.routes, names);
  auto metrics = std::make_unique<metrics::registry>(resolved.groups.size(), listeners.size());
  result.value = std::make_shared<const runtime>(runtime{
      std::move(config), std::move(listeners), std::move(resolved.groups), std::move(routes), std::move(metrics)});
  return result;
}

}  // namespace drawbridge::proxy
