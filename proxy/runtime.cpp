#include "proxy/runtime.hpp"

#include <algorithm>

namespace drawbridge::proxy {

runtime_result build_runtime(conf::config config, const runtime* previous, build_options options) {
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
      // A changed listener at an address that stays: its handshake counts go on from the old one's.
      if (previous)
        if (const auto was = find_listener(previous->listeners, kept->name); was != previous->listeners.end())
          kept->carry_counts_from(**was);
    }
    listeners.push_back(std::move(kept));
  }
  if (!result.errors.empty()) return result;

  // An upstream whose config (its nodes included) reads as in the previous config is the previous group,
  // taken over without resolving anything. Compared as configured: the group's own copy has no node list
  // (its live one may hold nodes the admin API added, which stay). A changed upstream of the same name is a
  // new group that takes the previous one's nodes over (carry_nodes); only its node names are resolved.
  // (A runtime's upstreams are in its config's order.)
  std::vector<std::shared_ptr<upstream::upstream_group>> groups;
  for (std::size_t u = 0; u < config.upstreams.size(); ++u) {
    const auto& wanted = config.upstreams[u];
    // The previous runtime's upstream of this name, if any: its position in the previous config.
    std::optional<std::size_t> was;
    for (std::size_t p = 0; previous && p < previous->upstreams.size() && !was; ++p)
      if (previous->config.upstreams[p].name == wanted.name) was = p;
    if (was && previous->config.upstreams[*was] == wanted) {
      groups.push_back(previous->upstreams[*was]);
      continue;
    }
    auto group = upstream::build_upstream(wanted, u, result.errors);
    if (!group) continue;
    if (was)
      if (auto error = carry_nodes(previous->config.upstreams[*was], *previous->upstreams[*was], wanted, *group))
        result.errors.push_back("upstreams[" + std::to_string(u) + "]: " + *error);
    groups.push_back(std::move(group));
  }
  if (!result.errors.empty()) return result;

  std::shared_ptr<access_log> log;
  if (previous && previous->config.access_log == config.access_log && !options.reopen_log) {
    log = previous->log;
  } else {
    try {
      log = std::make_shared<access_log>(config.access_log);
    } catch (const std::exception& e) {
      result.errors.push_back(e.what());  // names access_log.path
      return result;
    }
  }

  route_table routes(config.routes, groups);
  auto metrics = previous ? previous->metrics : std::make_shared<metrics::registry>();
  result.value = std::make_shared<const runtime>(runtime{std::move(config), std::move(listeners), std::move(groups),
                                                         std::move(routes), std::move(metrics), std::move(log)});
  return result;
}

std::optional<std::string> carry_nodes(const conf::upstream_config& was, const upstream::upstream_group& previous,
                                       const conf::upstream_config& now, upstream::upstream_group& next) {
  const auto configured = [](const conf::upstream_config& c, const std::string& name) {
    return std::find_if(c.nodes.begin(), c.nodes.end(), [&](const auto& n) { return n.name == name; });
  };
  const auto fresh = next.nodes();  // resolved from `now`, in its order
  upstream::node_list nodes;
  for (const auto& made : *fresh) {
    const auto old = previous.find(made->name());
    if (old && old->host_port() == made->host_port()) {
      nodes.push_back(old);  // the same server: its state, counts, pools and in-flight requests go on
      continue;
    }
    const auto listed = configured(was, made->name());
    // Configured before at this address, and no longer in the live list: the admin API removed it, and
    // that lasts (as it does across a restart, through the state file).
    if (!old && listed != was.nodes.end() && listed->address == made->host_port()) continue;
    // A new server under an old name: nothing is in flight on it, but the operator's drain stays.
    if (old && old->admin.load() != upstream::admin_state::ready) made->restore(upstream::admin_state::drained);
    nodes.push_back(made);
  }
  // Nodes the admin API added (not configured before), unless the config now names them itself.
  for (const auto& old : *previous.nodes())
    if (configured(was, old->name()) == was.nodes.end() && configured(now, old->name()) == now.nodes.end())
      nodes.push_back(old);
  if (nodes.size() > conf::max_nodes_per_upstream)
    return "with the nodes added through the admin API it would hold " + std::to_string(nodes.size()) +
           " nodes, more than the " + std::to_string(conf::max_nodes_per_upstream) + " an upstream can";
  next.share_ejection_lock(previous);
  next.publish(std::move(nodes));
  return std::nullopt;
}

std::vector<std::string> swap_refusals(const runtime& current, const runtime& next) {
  std::vector<std::string> why;
  if (next.metrics != current.metrics) why.push_back("the new runtime must share the metrics registry");
  const auto& a = current.config;
  const auto& b = next.config;
  auto fixed = [&](bool same, const char* path) {
    if (!same)
      why.push_back(std::string(path) + ": read once at start-up; a change needs a restart or a binary upgrade");
  };
  fixed(a.workers == b.workers, "workers");
  // Counting per address is on or off for the process (proxy/connections_per_address.hpp); the limit moves.
  fixed((a.limits.max_connections_per_ip == 0) == (b.limits.max_connections_per_ip == 0),
        "limits.max_connections_per_ip (turned on or off)");
  fixed(a.admin == b.admin, "admin");
  fixed(a.state_file == b.state_file, "state_file");
  fixed(a.cluster == b.cluster, "cluster");
  return why;
}

}  // namespace drawbridge::proxy
