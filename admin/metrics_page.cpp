#include "admin/metrics_page.hpp"

#include <chrono>
#include <string_view>

#include "conf/address.hpp"
#include "metrics/exposition.hpp"
#include "metrics/process_stats.hpp"
#include "proxy/access_log.hpp"
#include "upstream/upstream_group.hpp"

namespace drawbridge::admin {

using metrics::code_slots;
using metrics::exposition;
using metrics::histogram_totals;
using metrics::max_workers;

namespace {

using codes = std::array<std::uint64_t, code_slots>;

void add_codes(codes& into, const metrics::code_counts& from) {
  for (std::size_t i = 0; i < code_slots; ++i) into[i] += from[i].value();
}

// What the workers counted about one node, summed.
struct node_totals {
  codes requests{};
  histogram_totals response_duration;
  std::uint64_t connections_new = 0;
  std::uint64_t connections_reused = 0;
};

node_totals sum_node(const upstream::node& n) {
  node_totals t;
  for (unsigned w = 0; w < max_workers; ++w) {
    const auto* s = n.stats.find(w);
    if (!s) continue;
    add_codes(t.requests, s->requests);
    t.response_duration.add(s->response_duration);
    t.connections_new += s->connections_new.value();
    t.connections_reused += s->connections_reused.value();
  }
  return t;
}

// Labels that must outlive the samples that point at them.
std::string code_text(std::size_t slot) {
  return slot == metrics::other_code_slot ? std::string("other") : std::to_string(metrics::slot_code(slot));
}

constexpr upstream::node_state all_states[] = {upstream::node_state::active,    upstream::node_state::warming,
                                               upstream::node_state::draining,  upstream::node_state::drained,
                                               upstream::node_state::unhealthy, upstream::node_state::ejected};

}  // namespace

std::string render_metrics(const proxy::runtime& rt, const action_counts& actions) {
  exposition out;
  const auto& upstreams = rt.upstreams;
  const auto now_ms = upstream::steady_now_ms();
  // Each upstream's node list, taken once: every family below walks the same list (the admin API may
  // publish another meanwhile), and holds it while it does.
  std::map<const upstream::upstream_group*, std::shared_ptr<const upstream::node_list>> lists;
  for (const auto& g : upstreams) lists[g.get()] = g->nodes();
  auto snapshot = [&](const upstream::upstream_group& g) -> const upstream::node_list& { return *lists.at(&g); };

  // Workers' shards, summed.
  std::vector<codes> without_node(upstreams.size());
  std::vector<histogram_totals> request_duration(upstreams.size());
  std::vector<std::array<std::uint64_t, static_cast<std::size_t>(metrics::retry_reason::count)>> retries(
      upstreams.size());
  std::vector<std::int64_t> open(rt.listeners.size());
  std::vector<std::uint64_t> accepted(rt.listeners.size());
  std::vector<std::uint64_t> refused(rt.listeners.size());
  codes unrouted{};
  std::array<std::uint64_t, static_cast<std::size_t>(metrics::reject_reason::count)> rejected{};
  std::uint64_t bytes_received = 0, bytes_sent = 0, gzip_in = 0, gzip_out = 0;
  for (unsigned w = 0; w < max_workers; ++w) {
    const auto* s = rt.metrics->find(w);
    if (!s) continue;
    for (std::size_t u = 0; u < upstreams.size(); ++u) {
      add_codes(without_node[u], s->upstreams[u].requests_without_node);
      request_duration[u].add(s->upstreams[u].request_duration);
      for (std::size_t r = 0; r < retries[u].size(); ++r) retries[u][r] += s->upstreams[u].retries[r].value();
    }
    for (std::size_t l = 0; l < rt.listeners.size(); ++l) {
      open[l] += s->listeners[l].open.value();
      accepted[l] += s->listeners[l].accepted.value();
      refused[l] += s->listeners[l].refused.value();
    }
    add_codes(unrouted, s->requests_unrouted);
    for (std::size_t r = 0; r < rejected.size(); ++r) rejected[r] += s->rejected[r].value();
    bytes_received += s->bytes_received.value();
    bytes_sent += s->bytes_sent.value();
    gzip_in += s->gzip_in.value();
    gzip_out += s->gzip_out.value();
  }
  std::vector<std::string> listener_names;
  for (const auto& l : rt.listeners) listener_names.push_back(conf::to_string(l->config.address));

  out.family("drawbridge_build_info", "gauge", "drawbridge's version; always 1.");
  out.sample("drawbridge_build_info", {{"version", DRAWBRIDGE_VERSION}}, std::uint64_t{1});

  // Requests.
  out.family("drawbridge_requests_total", "counter",
             "Requests answered, by upstream, node and status code (0: the client went away first). Requests "
             "refused before routing have an empty upstream; routed ones no node took have an empty node.");
  auto codes_samples = [&](const codes& c, std::string_view up, std::string_view node) {
    for (std::size_t slot = 0; slot < code_slots; ++slot)
      if (c[slot] != 0)
        out.sample("drawbridge_requests_total", {{"upstream", up}, {"node", node}, {"code", code_text(slot)}}, c[slot]);
  };
  codes_samples(unrouted, "", "");
  std::vector<std::vector<node_totals>> per_node(upstreams.size());
  for (std::size_t u = 0; u < upstreams.size(); ++u) {
    const auto* nodes = &snapshot(*upstreams[u]);
    for (const auto& n : *nodes) per_node[u].push_back(sum_node(*n));
    codes_samples(without_node[u], upstreams[u]->name(), "");
    for (std::size_t i = 0; i < nodes->size(); ++i)
      codes_samples(per_node[u][i].requests, upstreams[u]->name(), (*nodes)[i]->name());
  }
  out.family("drawbridge_request_duration_seconds", "histogram",
             "Time from a request's complete header to the end of its response, by upstream (WebSocket upgrades "
             "are not timed).");
  for (std::size_t u = 0; u < upstreams.size(); ++u)
    out.histogram("drawbridge_request_duration_seconds", {{"upstream", upstreams[u]->name()}}, request_duration[u]);
  out.family("drawbridge_upstream_response_duration_seconds", "histogram",
             "Time from the first connect attempt to the end of the node's response, by upstream and node.");
  for (std::size_t u = 0; u < upstreams.size(); ++u) {
    const auto* nodes = &snapshot(*upstreams[u]);
    for (std::size_t i = 0; i < nodes->size() && i < per_node[u].size(); ++i)
      out.histogram("drawbridge_upstream_response_duration_seconds",
                    {{"upstream", upstreams[u]->name()}, {"node", (*nodes)[i]->name()}},
                    per_node[u][i].response_duration);
  }
  out.family("drawbridge_rejected_requests_total", "counter",
             "Requests refused before routing: malformed (400), header_timeout (408), body_too_large (413), "
             "header_too_large (431), version_unsupported (505), other.");
  for (std::size_t r = 0; r < rejected.size(); ++r)
    out.sample("drawbridge_rejected_requests_total", {{"reason", metrics::reject_reason_names[r]}}, rejected[r]);
  out.family("drawbridge_retries_total", "counter",
             "Requests sent again: to another node after a connect failure, no response or a 502/503/504, or on "
             "a fresh connection after a dead pooled one.");
  for (std::size_t u = 0; u < upstreams.size(); ++u)
    for (std::size_t r = 0; r < retries[u].size(); ++r)
      out.sample("drawbridge_retries_total",
                 {{"upstream", upstreams[u]->name()}, {"reason", metrics::retry_reason_names[r]}}, retries[u][r]);

  // Downstream connections and bytes.
  out.family("drawbridge_downstream_connections", "gauge", "Client connections open now, by listener.");
  for (std::size_t l = 0; l < open.size(); ++l)
    out.sample("drawbridge_downstream_connections", {{"listener", listener_names[l]}}, open[l]);
  out.family("drawbridge_downstream_connections_total", "counter", "Client connections accepted, by listener.");
  for (std::size_t l = 0; l < accepted.size(); ++l)
    out.sample("drawbridge_downstream_connections_total", {{"listener", listener_names[l]}}, accepted[l]);
  out.family("drawbridge_refused_connections_total", "counter",
             "Client connections closed at once because limits.max_connections was reached, by listener.");
  for (std::size_t l = 0; l < refused.size(); ++l)
    out.sample("drawbridge_refused_connections_total", {{"listener", listener_names[l]}}, refused[l]);
  out.family("drawbridge_bytes_received_total", "counter",
             "Request body bytes read from clients (and WebSocket bytes, counted when the tunnel ends).");
  out.sample("drawbridge_bytes_received_total", {}, bytes_received);
  out.family(
      "drawbridge_bytes_sent_total", "counter",
      "Response body bytes written to clients, as sent (compressed or not; WebSocket bytes when the tunnel ends).");
  out.sample("drawbridge_bytes_sent_total", {}, bytes_sent);
  out.family("drawbridge_gzip_bytes_in_total", "counter", "Response body bytes the gzip filter compressed.");
  out.sample("drawbridge_gzip_bytes_in_total", {}, gzip_in);
  out.family("drawbridge_gzip_bytes_out_total", "counter", "Compressed bytes the gzip filter produced.");
  out.sample("drawbridge_gzip_bytes_out_total", {}, gzip_out);

  // Nodes.
  out.family("drawbridge_node_in_flight", "gauge", "Requests and WebSocket tunnels in progress on a node.");
  for (const auto& g : upstreams)
    for (const auto& n : snapshot(*g))
      out.sample("drawbridge_node_in_flight", {{"upstream", g->name()}, {"node", n->name()}},
                 std::int64_t{n->in_flight.load()});
  out.family("drawbridge_node_tunnels", "gauge", "WebSocket tunnels open to a node (part of in_flight).");
  for (const auto& g : upstreams)
    for (const auto& n : snapshot(*g))
      out.sample("drawbridge_node_tunnels", {{"upstream", g->name()}, {"node", n->name()}},
                 std::int64_t{n->tunnels.load()});
  out.family(
      "drawbridge_node_state", "gauge",
      "1 for a node's current state (active, warming, draining, drained, unhealthy, ejected), 0 for the others.");
  for (const auto& g : upstreams)
    for (const auto& n : snapshot(*g)) {
      const auto current = n->state(now_ms, g->config().slow_start.count());
      for (const auto s : all_states)
        out.sample("drawbridge_node_state",
                   {{"upstream", g->name()}, {"node", n->name()}, {"state", upstream::to_string(s)}},
                   std::uint64_t{s == current ? 1u : 0u});
    }
  out.family("drawbridge_node_healthy", "gauge", "1 when a node's health checks pass (or it has none), else 0.");
  for (const auto& g : upstreams)
    for (const auto& n : snapshot(*g))
      out.sample("drawbridge_node_healthy", {{"upstream", g->name()}, {"node", n->name()}},
                 std::uint64_t{n->health.load() == upstream::health_state::healthy ? 1u : 0u});
  out.family("drawbridge_upstream_eligible_nodes", "gauge",
             "Nodes of an upstream taking new requests (wanted, healthy, not ejected).");
  for (const auto& g : upstreams)
    out.sample("drawbridge_upstream_eligible_nodes", {{"upstream", g->name()}},
               std::uint64_t{g->eligible_count(nullptr)});
  out.family("drawbridge_health_checks_total", "counter", "Active health checks, by result (passed or failed).");
  for (const auto& g : upstreams)
    for (const auto& n : snapshot(*g)) {
      out.sample("drawbridge_health_checks_total", {{"upstream", g->name()}, {"node", n->name()}, {"result", "passed"}},
                 n->health_checks_passed.value());
      out.sample("drawbridge_health_checks_total", {{"upstream", g->name()}, {"node", n->name()}, {"result", "failed"}},
                 n->health_checks_failed.value());
    }
  out.family("drawbridge_node_failures_total", "counter",
             "Failures of a node that count toward passive ejection: connect errors, resets, timeouts, garbage, "
             "502/503/504 answers (including requests then retried on another node).");
  for (const auto& g : upstreams)
    for (const auto& n : snapshot(*g))
      out.sample("drawbridge_node_failures_total", {{"upstream", g->name()}, {"node", n->name()}},
                 std::uint64_t{n->failures_total.load(std::memory_order_relaxed)});
  out.family("drawbridge_node_ejections_total", "counter", "Times passive checks ejected a node.");
  for (const auto& g : upstreams)
    for (const auto& n : snapshot(*g))
      out.sample("drawbridge_node_ejections_total", {{"upstream", g->name()}, {"node", n->name()}},
                 std::uint64_t{n->ejections_total.load(std::memory_order_relaxed)});
  out.family("drawbridge_upstream_connections_total", "counter",
             "Requests sent to a node, by whether the connection was new (reused=\"false\") or from the pool.");
  for (std::size_t u = 0; u < upstreams.size(); ++u) {
    const auto* nodes = &snapshot(*upstreams[u]);
    for (std::size_t i = 0; i < nodes->size() && i < per_node[u].size(); ++i) {
      const auto& name = (*nodes)[i]->name();
      out.sample("drawbridge_upstream_connections_total",
                 {{"upstream", upstreams[u]->name()}, {"node", name}, {"reused", "false"}},
                 per_node[u][i].connections_new);
      out.sample("drawbridge_upstream_connections_total",
                 {{"upstream", upstreams[u]->name()}, {"node", name}, {"reused", "true"}},
                 per_node[u][i].connections_reused);
    }
  }

  // TLS.
  out.family(
      "drawbridge_tls_handshakes_total", "counter",
      "TLS handshakes with clients, by listener and result: full, resumed (a session ticket or cache hit), failed.");
  for (std::size_t l = 0; l < rt.listeners.size(); ++l) {
    const auto& li = *rt.listeners[l];
    if (!li.tls()) continue;
    out.sample("drawbridge_tls_handshakes_total", {{"listener", listener_names[l]}, {"result", "full"}},
               std::uint64_t{li.full.load(std::memory_order_relaxed)});
    out.sample("drawbridge_tls_handshakes_total", {{"listener", listener_names[l]}, {"result", "resumed"}},
               std::uint64_t{li.resumed.load(std::memory_order_relaxed)});
    out.sample("drawbridge_tls_handshakes_total", {{"listener", listener_names[l]}, {"result", "failed"}},
               li.handshake_failures.load(std::memory_order_relaxed));
  }
  out.family(
      "drawbridge_tls_certificate_expiry_timestamp_seconds", "gauge",
      "When each served certificate expires (Unix time), by listener, the certificate's first name and its file.");
  for (std::size_t l = 0; l < rt.listeners.size(); ++l) {
    const auto contexts = rt.listeners[l]->current_contexts();
    if (!contexts) continue;
    for (const auto& cert : contexts->certificates()) {
      const auto& name = cert.names.empty() ? cert.subject : cert.names.front();
      out.sample("drawbridge_tls_certificate_expiry_timestamp_seconds",
                 {{"listener", listener_names[l]}, {"name", name}, {"file", cert.cert_path}},
                 static_cast<double>(
                     std::chrono::duration_cast<std::chrono::seconds>(cert.not_after.time_since_epoch()).count()));
    }
  }

  // The logs.
  out.family("drawbridge_log_dropped_total", "counter",
             "Log lines dropped because the log's destination (stdout, stderr, the file) did not keep up, by log "
             "(access or operational).");
  out.sample("drawbridge_log_dropped_total", {{"log", "access"}}, proxy::access_log_dropped());
  out.sample("drawbridge_log_dropped_total", {{"log", "operational"}}, proxy::operational_log_dropped());

  // The admin API.
  out.family("drawbridge_admin_actions_total", "counter",
             "Admin API actions, by action and result (ok or the error code).");
  for (const auto& [key, count] : actions)
    out.sample("drawbridge_admin_actions_total", {{"action", key.first}, {"result", key.second}}, count);

  // The process.
  const auto p = metrics::read_process_stats();
  if (p.ok) {
    out.family("process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.");
    out.sample("process_cpu_seconds_total", {}, p.cpu_seconds);
    out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    out.sample("process_resident_memory_bytes", {}, p.resident_bytes);
    out.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    out.sample("process_virtual_memory_bytes", {}, p.virtual_bytes);
    out.family("process_open_fds", "gauge", "Open file descriptors.");
    out.sample("process_open_fds", {}, p.open_fds);
    out.family("process_max_fds", "gauge", "The limit on open file descriptors.");
    out.sample("process_max_fds", {}, p.max_fds);
    out.family("process_start_time_seconds", "gauge", "When the process started, in seconds since the Unix epoch.");
    out.sample("process_start_time_seconds", {}, p.start_time_seconds);
  }
  return out.text();
}

}  // namespace drawbridge::admin
