#include "proxy/runtime.hpp"

#include <algorithm>

namespace drawbridge::proxy {

runtime_result build_runtime(conf::config config, const runtime* previous) {
  runtime_result result;

  std::vector<std::shared_ptr<listener>> listeners;
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    const auto& wanted = config.listeners[i];
    std::shared_ptr<listener> kept;
    if (previous)
      for (const auto& l : previous->listeners)
        if (l->config == wanted) kept = l;
    if (!kept) {
      kept = std::make_shared<listener>(wanted);
      if (auto error = load_certificates(*kept, i)) result.errors.push_back(std::move(*error));
    }
    listeners.push_back(std::move(kept));
  }
  if (!result.errors.empty()) return result;

  // Every node is resolved, kept upstreams' too: a config error names its place in the file either way.
  auto resolved = upstream::build_upstreams(config.upstreams);
  if (!resolved.errors.empty()) {
    result.errors = std::move(resolved.errors);
    return result;
  }
  // An upstream whose config (its nodes included) reads as in the previous config is the previous group.
  // Compared as configured: the group's own copy has no node list (its live one may hold nodes the admin
  // API added, which stay).
  // (A runtime's upstreams are in its config's order.)
  if (previous)
    for (std::size_t u = 0; u < resolved.groups.size(); ++u)
      for (std::size_t p = 0; p < previous->upstreams.size(); ++p)
        if (previous->config.upstreams[p] == config.upstreams[u]) resolved.groups[u] = previous->upstreams[p];

  route_table routes(config.routes, resolved.groups);
  auto metrics = previous ? previous->metrics : std::make_shared<metrics::registry>();
  result.value = std::make_shared<const runtime>(runtime{
      std::move(config), std::move(listeners), std::move(resolved.groups), std::move(routes), std::move(metrics)});
  return result;
}

std::vector<std::string> swap_refusals(const runtime& current, const runtime& next) {
  std::vector<std::string> why;
  if (next.metrics != current.metrics) why.push_back("the new runtime must share the metrics registry");
  auto held = [](const auto& list, const auto& object) {
    return std::find(list.begin(), list.end(), object) != list.end();
  };
  for (std::size_t i = 0; i < next.listeners.size(); ++i)
    if (!held(current.listeners, next.listeners[i]))
      why.push_back("listeners[" + std::to_string(i) + "] (" + next.listeners[i]->name +
                    "): a listener cannot be added or changed without a restart yet");
  // Removed ones (a changed one was named above).
  for (const auto& l : current.listeners)
    if (std::none_of(next.listeners.begin(), next.listeners.end(), [&](const auto& n) { return n->name == l->name; }))
      why.push_back("listeners: " + l->name + " cannot be removed without a restart yet");
  for (std::size_t i = 0; i < next.upstreams.size(); ++i)
    if (!held(current.upstreams, next.upstreams[i]))
      why.push_back("upstreams[" + std::to_string(i) + "] (\"" + next.upstreams[i]->name() +
                    "\"): an upstream cannot be added or changed without a restart yet");
  for (const auto& g : current.upstreams)
    if (std::none_of(next.upstreams.begin(), next.upstreams.end(),
                     [&](const auto& n) { return n->name() == g->name(); }))
      why.push_back("upstreams: \"" + g->name() + "\" cannot be removed without a restart yet");
  const auto& a = current.config;
  const auto& b = next.config;
  auto fixed = [&](bool same, const char* path) {
    if (!same) why.push_back(std::string(path) + ": read once at start-up; a change needs a restart");
  };
  fixed(a.workers == b.workers, "workers");
  fixed(a.limits.max_connections == b.limits.max_connections, "limits.max_connections");
  fixed(a.limits.max_connections_per_ip == b.limits.max_connections_per_ip, "limits.max_connections_per_ip");
  fixed(a.access_log == b.access_log, "access_log");
  fixed(a.admin == b.admin, "admin");
  fixed(a.state_file == b.state_file, "state_file");
  fixed(a.log_level == b.log_level, "log_level");
  return why;
}

}  // namespace drawbridge::proxy
