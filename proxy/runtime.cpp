#include "proxy/runtime.hpp"

namespace drawbridge::proxy {

runtime_result build_runtime(conf::config config) {
  runtime_result result;
  auto resolved = upstream::build_upstreams(config.upstreams);
  if (!resolved.errors.empty()) {
    result.errors = std::move(resolved.errors);
    return result;
  }
  std::vector<std::string> names;
  for (const auto& group : resolved.groups) names.push_back(group->name());
  route_table routes(config.routes, names);
  result.value = std::make_shared<const runtime>(
      runtime{std::move(config), std::move(resolved.groups), std::move(routes)});
  return result;
}

}  // namespace drawbridge::proxy
