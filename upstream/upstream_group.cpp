#include "upstream/upstream_group.hpp"

#include "tls/client_context.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace drawbridge::upstream {

upstream_group::upstream_group(const conf::upstream_config& config, node_list nodes,
                               std::shared_ptr<boost::asio::ssl::context> tls_context)
    : config_(config), tls_context_(std::move(tls_context)) {
  config_.nodes.clear();  // the live list is nodes_; the config's copy would only go stale
  nodes_.store(std::make_shared<const node_list>(std::move(nodes)));
}

void upstream_group::publish(node_list nodes) {
  nodes_.store(std::make_shared<const node_list>(std::move(nodes)), std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

std::shared_ptr<node> upstream_group::find(const std::string& name) const {
  for (const auto& n : *nodes())
    if (n->name() == name) return n;
  return nullptr;
}

std::size_t upstream_group::eligible_count(const node* except) const {
  std::size_t count = 0;
  for (const auto& n : *nodes())
    if (n.get() != except && n->eligible()) ++count;
  return count;
}

std::optional<std::size_t> upstream_group::begin_drain(node& n, bool force) {
  const std::lock_guard lock(*ejection_mutex_);
  const auto others = eligible_count(&n);
  if (!force && n.eligible() && others < config_.min_available) return others;
  n.begin_drain();  // the admission ordering drain relies on is node's (node.hpp)
  return std::nullopt;
}

bool upstream_group::record_failure(node& n, std::int64_t now_ms) {
  const auto run = n.count_failure();
  const auto& passive = config_.passive;
  if (passive.max_failures == 0 || run < passive.max_failures) return false;

  const std::lock_guard lock(*ejection_mutex_);
  if (n.ejected.load(std::memory_order_relaxed) || !n.eligible()) return false;
  if (eligible_count(&n) < config_.min_available) {
    if (const auto held_back = n.warning_due(std::chrono::steady_clock::now(), std::chrono::seconds(1)))
      spdlog::warn(
          "node {} of upstream {} failed {} times in a row but stays in: ejecting it would leave "
          "fewer than min_available ({}) eligible nodes{}",
          n.name(), name(), run, config_.min_available, suppressed_note(*held_back));
    return false;
  }
  // Repeat offenders stay out longer: the time doubles when the node is ejected again soon after its
  // last ejection ended, and goes back to the base time after a quiet spell as long as the last one.
  const auto base = passive.ejection_time.count();
  const auto cap = passive.max_ejection_time.count();
  std::int64_t last_span = base;
  auto& record = n.ejection_;
  for (std::uint32_t i = 0; i < record.in_a_row && last_span < cap; ++i) last_span *= 2;
  const bool soon_again = record.last_end_ms >= 0 && now_ms - record.last_end_ms < std::min(last_span, cap);
  record.in_a_row = soon_again ? record.in_a_row + 1 : 0;
  std::int64_t span = base;
  for (std::uint32_t i = 0; i < record.in_a_row && span < cap; ++i) span *= 2;
  span = std::min(span, cap);
  n.eject(now_ms + span);
  spdlog::warn("node {} of upstream {} ejected for {} after {} failures in a row", n.name(), name(),
               conf::format_duration(conf::duration(span)), run);
  return true;
}

std::size_t upstream_group::end_ejections(std::int64_t now_ms) {
  std::size_t ended = 0;
  const auto snapshot = nodes();
  const std::lock_guard lock(*ejection_mutex_);
  for (const auto& n : *snapshot) {
    if (!n->ejected.load(std::memory_order_relaxed) || now_ms < n->ejection_.until_ms) continue;
    n->end_ejection(now_ms);
    spdlog::info("node {} of upstream {} back from ejection", n->name(), name());
    ++ended;
  }
  return ended;
}

void upstream_group::end_ejection(node& n, std::int64_t now_ms) {
  const std::lock_guard lock(*ejection_mutex_);
  if (!n.ejected.load(std::memory_order_relaxed)) return;
  n.end_ejection(now_ms);
  spdlog::info("node {} of upstream {} back from ejection: its health checks pass again", n.name(), name());
}

std::vector<boost::asio::ip::tcp::endpoint> resolve_node(const conf::host_port& address, std::string& error) {
  namespace net = boost::asio;
  using tcp = net::ip::tcp;
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  auto results = resolver.resolve(address.host, std::to_string(address.port), tcp::resolver::numeric_service, ec);
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  if (ec || endpoints.empty())
    error = "cannot resolve \"" + address.host + "\": " + (ec ? ec.message() : std::string("no addresses"));
  return endpoints;
}

std::shared_ptr<upstream_group> build_upstream(const conf::upstream_config& cfg, std::size_t position,
                                               std::vector<std::string>& errors) {
  const auto before = errors.size();
  node_list nodes;
  for (std::size_t n = 0; n < cfg.nodes.size(); ++n) {
    const auto& nc = cfg.nodes[n];
    std::string error;
    auto endpoints = resolve_node(nc.address, error);
    if (endpoints.empty()) {
      errors.push_back("upstreams[" + std::to_string(position) + "].nodes[" + std::to_string(n) +
                       "].address: " + error);
      continue;
    }
    auto created = std::make_shared<node>(nc.name, nc.address, nc.weight, std::move(endpoints));
    if (cfg.health_check.enabled) created->record_health(health_state::unknown);
    nodes.push_back(std::move(created));
  }
  std::shared_ptr<boost::asio::ssl::context> tls_context;
  if (cfg.tls.enabled) {
    std::string error;
    tls_context = tls::build_client_context(cfg.tls, error);
    if (!tls_context) errors.push_back("upstreams[" + std::to_string(position) + "].tls: " + error);
  }
  if (errors.size() != before) return nullptr;
  return std::make_shared<upstream_group>(cfg, std::move(nodes), std::move(tls_context));
}

resolve_result build_upstreams(const std::vector<conf::upstream_config>& upstreams) {
  resolve_result result;
  for (std::size_t u = 0; u < upstreams.size(); ++u)
    if (auto group = build_upstream(upstreams[u], u, result.errors)) result.groups.push_back(std::move(group));
  return result;
}

}  // namespace drawbridge::upstream
