#include "proxy/worker_collector.hpp"

#include <array>
#include <string>

#include "conf/address.hpp"
#include "metrics/family.hpp"
#include "proxy/access_log.hpp"
#include "proxy/body_encoder.hpp"

namespace drawbridge::proxy {

using metrics::add_sample;
using metrics::family;
using prometheus::MetricType;

namespace {

constexpr std::size_t reject_reasons = static_cast<std::size_t>(metrics::reject_reason::count);

struct listener_totals {
  std::int64_t open = 0;
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;
};

struct worker_totals {
  metrics::code_totals unrouted{};
  std::array<std::uint64_t, reject_reasons> rejected{};
  std::vector<listener_totals> listeners;  // as the listener list
  std::uint64_t bytes_received = 0, bytes_sent = 0;
  std::array<std::uint64_t, 2> by_protocol{};                                         // HTTP/1.x, HTTP/2
  std::array<std::uint64_t, content_coding_count> compressed_in{}, compressed_out{};  // by content_coding
  static_assert(content_coding_count == std::tuple_size_v<decltype(metrics::worker_shard::compressed_in)>);
};

// A listener's counts are kept under its name (metrics::registry), whatever runtime counted them.
worker_totals sum_workers(const metrics::registry& workers, const std::vector<std::shared_ptr<listener>>& listeners) {
  worker_totals t;
  t.listeners.resize(listeners.size());
  for (std::size_t l = 0; l < listeners.size(); ++l) {
    const auto* shards = workers.find_listener(listeners[l]->name);
    if (!shards) continue;  // nothing counted yet
    metrics::for_each_worker(*shards, [&](const metrics::listener_shard& s) {
      t.listeners[l].open += s.open.value();
      t.listeners[l].accepted += s.accepted.value();
      t.listeners[l].refused += s.refused.value();
    });
  }
  metrics::for_each_worker(workers, [&](const metrics::worker_shard& s) {
    metrics::add_codes(t.unrouted, s.requests_unrouted);
    for (std::size_t r = 0; r < reject_reasons; ++r) t.rejected[r] += s.rejected[r].value();
    t.bytes_received += s.bytes_received.value();
    t.bytes_sent += s.bytes_sent.value();
    for (std::size_t p = 0; p < t.by_protocol.size(); ++p) t.by_protocol[p] += s.requests_by_protocol[p].value();
    for (std::size_t c = 0; c < content_coding_count; ++c) {
      t.compressed_in[c] += s.compressed_in[c].value();
      t.compressed_out[c] += s.compressed_out[c].value();
    }
  });
  return t;
}

}  // namespace

std::vector<prometheus::MetricFamily> worker_collector::Collect() const {
  const auto t = sum_workers(workers_, listeners_);
  std::vector<prometheus::MetricFamily> out;
  out.reserve(11);  // every family below: the references taken to them stay valid

  // Requests refused before routing, redirected or without a route; upstream_collector adds the rest of
  // this family (same name, help and type: the exposition merges them).
  auto& requests = out.emplace_back(metrics::requests_family());
  metrics::add_code_samples(requests, {{"upstream", ""}, {"node", ""}}, t.unrouted);
  auto& rejected = out.emplace_back(
      family("drawbridge_rejected_requests_total", MetricType::Counter,
             "Requests refused before routing: malformed (400), header_timeout (408), body_too_large (413), "
             "header_too_large (431), version_unsupported (505), other."));
  for (std::size_t r = 0; r < reject_reasons; ++r)
    add_sample(rejected, {{"reason", metrics::reject_reason_names[r]}}, static_cast<double>(t.rejected[r]));

  // A family of its own rather than a label on drawbridge_requests_total: that would change the identity of
  // every existing series (dashboards, alert rules) and double the per-node code counters.
  auto& by_protocol = out.emplace_back(
      family("drawbridge_requests_by_protocol_total", MetricType::Counter,
             "Requests (as counted in drawbridge_requests_total) by the protocol the client spoke: HTTP/1.1 (1.0 "
             "included) or HTTP/2."));
  add_sample(by_protocol, {{"protocol", "HTTP/1.1"}}, static_cast<double>(t.by_protocol[0]));
  add_sample(by_protocol, {{"protocol", "HTTP/2"}}, static_cast<double>(t.by_protocol[1]));

  // Downstream connections, by listener.
  auto per_listener = [&](std::string_view name, MetricType type, std::string_view help, auto value_of) {
    auto& f = out.emplace_back(family(name, type, help));
    for (std::size_t l = 0; l < listeners_.size(); ++l)
      add_sample(f, {{"listener", listeners_[l]->name}}, static_cast<double>(value_of(t.listeners[l])));
  };
  per_listener("drawbridge_downstream_connections", MetricType::Gauge, "Client connections open now, by listener.",
               [](const listener_totals& l) { return l.open; });
  per_listener("drawbridge_downstream_connections_total", MetricType::Counter,
               "Client connections accepted, by listener.", [](const listener_totals& l) { return l.accepted; });
  per_listener("drawbridge_refused_connections_total", MetricType::Counter,
               "Client connections closed at once because limits.max_connections was reached, by listener.",
               [](const listener_totals& l) { return l.refused; });

  // Bytes.
  auto one = [&](std::string_view name, std::string_view help, std::uint64_t value) {
    add_sample(out.emplace_back(family(name, MetricType::Counter, help)), {}, static_cast<double>(value));
  };
  one("drawbridge_bytes_received_total",
      "Request body bytes read from clients (and WebSocket bytes, counted when the tunnel ends).", t.bytes_received);
  one("drawbridge_bytes_sent_total",
      "Response body bytes written to clients, as sent (compressed or not; WebSocket bytes when the tunnel ends).",
      t.bytes_sent);
  // Named after the gzip section that configures compression, whatever the coding (the label says which).
  auto by_coding = [&](std::string_view name, std::string_view help, const auto& values) {
    auto& f = out.emplace_back(family(name, MetricType::Counter, help));
    for (const auto c : content_codings)
      add_sample(f, {{"encoding", coding_token(c)}}, static_cast<double>(values[static_cast<std::size_t>(c)]));
  };
  by_coding("drawbridge_gzip_bytes_in_total",
            "Response body bytes drawbridge compressed, by encoding (zstd, br, gzip).", t.compressed_in);
  by_coding("drawbridge_gzip_bytes_out_total", "Compressed bytes drawbridge produced, by encoding (zstd, br, gzip).",
            t.compressed_out);

  // The logs the workers write.
  auto& dropped = out.emplace_back(
      family("drawbridge_log_dropped_total", MetricType::Counter,
             "Log lines dropped because the log's destination (stdout, stderr, the file) did not keep up, by log "
             "(access or operational)."));
  add_sample(dropped, {{"log", "access"}}, static_cast<double>(access_log_dropped()));
  add_sample(dropped, {{"log", "operational"}}, static_cast<double>(operational_log_dropped()));
  return out;
}

}  // namespace drawbridge::proxy
