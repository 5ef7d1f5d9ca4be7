#include "proxy/runtime.hpp"

namespace drawbridge::proxy {

runtime_result build_runtime(conf::config config) {
  runtime_result result;
  // The TLS settings are read and validated, and tls/ builds the contexts, but the data plane does not
  // speak TLS yet: refuse rather than serve plain HTTP where HTTPS was asked for.
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    const std::string p = "listeners[" + std::to_string(i) + "]";
    if (config.listeners[i].tls) result.errors.push_back(p + ".tls: TLS listeners are not supported yet");
    if (config.listeners[i].redirect_https)
      result.errors.push_back(p + ".redirect_https: not supported yet (it comes with TLS listeners)");
  }
  for (std::size_t i = 0; i < config.upstreams.size(); ++i)
    if (config.upstreams[i].tls.enabled)
      result.errors.push_back("upstreams[" + std::to_string(i) + "].tls: TLS to nodes is not supported yet");
  if (!result.errors.empty()) return result;
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
