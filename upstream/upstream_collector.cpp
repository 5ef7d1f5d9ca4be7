#include "upstream/upstream_collector.hpp"

#include <array>
#include <string>

#include "metrics/family.hpp"
#include "upstream/node_version.hpp"

namespace drawbridge::upstream {

using metrics::add_histogram;
using metrics::add_sample;
using metrics::family;
using prometheus::MetricType;

namespace {

constexpr std::size_t retry_reasons = static_cast<std::size_t>(metrics::retry_reason::count);

constexpr node_state all_states[] = {node_state::active,  node_state::warming,   node_state::draining,
                                     node_state::drained, node_state::unhealthy, node_state::ejected};

// What the workers counted about one node, summed.
struct node_totals {
  metrics::code_totals requests{};
  metrics::histogram_totals response_duration;
  std::uint64_t connections_new = 0;
  std::uint64_t connections_reused = 0;
};

node_totals sum_node(const node& n) {
  node_totals t;
  metrics::for_each_worker(n.stats, [&](const metrics::node_shard& s) {
    metrics::add_codes(t.requests, s.requests);
    t.response_duration.add(s.response_duration);
    t.connections_new += s.connections_new.value();
    t.connections_reused += s.connections_reused.value();
  });
  return t;
}

// One upstream as this scrape sees it: its node list taken once (every family walks the same list while
// the admin API may publish another), and the workers' counts summed.
struct upstream_view {
  const upstream_group* group = nullptr;
  std::shared_ptr<const node_list> nodes;
  std::vector<node_totals> per_node;  // as nodes
  metrics::code_totals without_node{};
  metrics::histogram_totals request_duration;
  std::array<std::uint64_t, retry_reasons> retries{};
};

// An upstream's counts are kept under its name (metrics::registry), whatever runtime counted them.
void add_worker_counts(upstream_view& v, const metrics::registry& workers) {
  const auto* shards = workers.find_upstream(v.group->name());
  if (!shards) return;  // no worker has counted anything for it yet
  metrics::for_each_worker(*shards, [&](const metrics::upstream_shard& s) {
    metrics::add_codes(v.without_node, s.requests_without_node);
    v.request_duration.add(s.request_duration);
    for (std::size_t r = 0; r < retry_reasons; ++r) v.retries[r] += s.retries[r].value();
  });
}

}  // namespace

std::vector<prometheus::MetricFamily> upstream_collector::Collect() const {
  std::vector<upstream_view> views(upstreams_.size());
  for (std::size_t u = 0; u < upstreams_.size(); ++u) {
    auto& v = views[u];
    v.group = upstreams_[u].get();
    v.nodes = v.group->nodes();
    for (const auto& n : *v.nodes) v.per_node.push_back(sum_node(*n));
    add_worker_counts(v, workers_);
  }
  const auto now_ms = steady_now_ms();
  std::vector<prometheus::MetricFamily> out;
  out.reserve(12);  // every family below: the references taken to them stay valid

  // Requests.
  auto& requests = out.emplace_back(metrics::requests_family());
  for (const auto& v : views) {
    metrics::add_code_samples(requests, {{"upstream", v.group->name()}, {"node", ""}}, v.without_node);
    for (std::size_t i = 0; i < v.nodes->size(); ++i)
      metrics::add_code_samples(requests, {{"upstream", v.group->name()}, {"node", (*v.nodes)[i]->name()}},
                                v.per_node[i].requests);
  }
  auto& duration = out.emplace_back(
      family("drawbridge_request_duration_seconds", MetricType::Histogram,
             "Time from a request's complete header to the end of its response, by upstream (WebSocket upgrades "
             "are not timed)."));
  for (const auto& v : views) add_histogram(duration, {{"upstream", v.group->name()}}, v.request_duration);
  auto& response_duration = out.emplace_back(
      family("drawbridge_upstream_response_duration_seconds", MetricType::Histogram,
             "Time from the first connect attempt to the end of the node's response, by upstream and node."));
  for (const auto& v : views)
    for (std::size_t i = 0; i < v.nodes->size(); ++i)
      add_histogram(response_duration, {{"upstream", v.group->name()}, {"node", (*v.nodes)[i]->name()}},
                    v.per_node[i].response_duration);
  auto& retries = out.emplace_back(
      family("drawbridge_retries_total", MetricType::Counter,
             "Requests sent again: to another node after a connect failure, no response or a 502/503/504, or on "
             "a fresh connection after a dead pooled one."));
  for (const auto& v : views)
    for (std::size_t r = 0; r < retry_reasons; ++r)
      add_sample(retries, {{"upstream", v.group->name()}, {"reason", metrics::retry_reason_names[r]}},
                 static_cast<double>(v.retries[r]));

  // Nodes: one gauge or counter per node, read from its atomics.
  auto per_node = [&](std::string_view name, MetricType type, std::string_view help, auto value_of) {
    auto& f = out.emplace_back(family(name, type, help));
    for (const auto& v : views)
      for (const auto& n : *v.nodes)
        add_sample(f, {{"upstream", v.group->name()}, {"node", n->name()}}, static_cast<double>(value_of(*n)));
  };
  per_node("drawbridge_node_in_flight", MetricType::Gauge, "Requests and WebSocket tunnels in progress on a node.",
           [](const node& n) { return n.in_flight.load(); });
  per_node("drawbridge_node_tunnels", MetricType::Gauge, "WebSocket tunnels open to a node (part of in_flight).",
           [](const node& n) { return n.tunnels.load(); });
  auto& state = out.emplace_back(
      family("drawbridge_node_state", MetricType::Gauge,
             "1 for a node's current state (active, warming, draining, drained, unhealthy, ejected), 0 for the others; "
             "with version affinity, `version` is the application version the node reports (empty when not known)."));
  for (const auto& v : views)
    for (const auto& n : *v.nodes) {
      const auto current = n->state(now_ms, v.group->config().slow_start.count());
      // The version label only where version affinity is on: without it, nothing changes.
      const bool versioned = v.group->config().version_affinity.enabled;
      const auto* version = n->version();
      for (const auto s : all_states) {
        if (versioned)
          add_sample(state,
                     {{"upstream", v.group->name()},
                      {"node", n->name()},
                      {"state", to_string(s)},
                      {"version", version ? *version : std::string()}},
                     s == current ? 1 : 0);
        else
          add_sample(state, {{"upstream", v.group->name()}, {"node", n->name()}, {"state", to_string(s)}},
                     s == current ? 1 : 0);
      }
    }
  auto& fallbacks = out.emplace_back(
      family("drawbridge_version_fallbacks_total", MetricType::Counter,
             "Requests that named an application version no eligible node had left, sent to a node of another "
             "version (version affinity). `version` is the one named, or \"unknown\" when no node ever reported "
             "it."));
  for (const auto& f : version_fallbacks())
    add_sample(fallbacks, {{"upstream", f.upstream}, {"version", f.version}}, static_cast<double>(f.count));
  auto& eligible = out.emplace_back(family("drawbridge_upstream_eligible_nodes", MetricType::Gauge,
                                           "Nodes of an upstream taking new requests (wanted, healthy, not ejected)."));
  for (const auto& v : views)
    add_sample(eligible, {{"upstream", v.group->name()}}, static_cast<double>(v.group->eligible_count(nullptr)));
  per_node("drawbridge_node_failures_total", MetricType::Counter,
           "Failures of a node that count toward passive ejection: connect errors, resets, timeouts, garbage, "
           "502/503/504 answers (including requests then retried on another node).",
           [](const node& n) { return n.failures_total.load(std::memory_order_relaxed); });
  per_node("drawbridge_node_ejections_total", MetricType::Counter, "Times passive checks ejected a node.",
           [](const node& n) { return n.ejections_total.load(std::memory_order_relaxed); });
  auto& connections = out.emplace_back(
      family("drawbridge_upstream_connections_total", MetricType::Counter,
             "Requests sent to a node, by whether the connection was new (reused=\"false\") or from the pool."));
  for (const auto& v : views)
    for (std::size_t i = 0; i < v.nodes->size(); ++i) {
      const auto& name = (*v.nodes)[i]->name();
      add_sample(connections, {{"upstream", v.group->name()}, {"node", name}, {"reused", "false"}},
                 static_cast<double>(v.per_node[i].connections_new));
      add_sample(connections, {{"upstream", v.group->name()}, {"node", name}, {"reused", "true"}},
                 static_cast<double>(v.per_node[i].connections_reused));
    }
  return out;
}

}  // namespace drawbridge::upstream
