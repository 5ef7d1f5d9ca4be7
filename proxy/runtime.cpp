#include "proxy/runtime.hpp"

namespace drawbridge::proxy {

const upstream::upstream_group* find_upstream(const runtime& rt, std::string_view name) {
  for (const auto& g : rt.upstreams)
    if (g->name() == name) return g.get();
  return nullptr;
}

const listener* find_listener(const runtime& rt, std::string_view name) {
  for (const auto& l : rt.listeners)
    if (l->name == name) return l.get();
  return nullptr;
}

runtime_result build_runtime(conf::config config, std::shared_ptr<metrics::registry> metrics) {
  runtime_result result;
  std::vector<std::unique_ptr<listener>> listeners;
  for (const auto& l : config.listeners) listeners.push_back(std::make_unique<listener>(l));
  for (auto& e : load_certificates(listeners)) result.errors.push_back(std::move(e));
  if (!result.errors.empty()) return result;
  auto resolved = upstream::build_upstreams(config.upstreams);
  if (!resolved.errors.empty()) {
    result.errors = std::move(resolved.errors);
    return result;
  }
  route_table routes(config.routes, resolved.groups);
  if (!metrics) metrics = std::make_shared<metrics::registry>();
  result.value = std::make_shared<const runtime>(runtime{
      std::move(config), std::move(listeners), std::move(resolved.groups), std::move(routes), std::move(metrics)});
  return result;
}

}  // namespace drawbridge::proxy
