#include "admin/node_json.hpp"

#include <chrono>

#include "proxy/access_log.hpp"

namespace drawbridge::admin {

using json = nlohmann::ordered_json;

std::string format_utc(std::int64_t unix_ms) {
  std::string out;
  proxy::append_utc_time(out, std::chrono::system_clock::time_point(std::chrono::milliseconds(unix_ms)));
  return out;
}

json node_json(const upstream::upstream_group& group, const upstream::node& n,
               const upstream::health_checker& checker) {
  const auto now = upstream::steady_now_ms();
  const auto* version = n.version();
  json j{{"name", n.name()},
         {"address", n.address()},
         {"weight", n.weight()},
         {"admin_state", to_string(n.admin.load())},
         {"health", to_string(n.health.load())},
         {"state", to_string(n.state(now, group.config().slow_start.count()))},
         {"in_flight", n.in_flight.load()},
         {"requests_total", n.requests_total.load()},
         {"failures_total", n.failures_total.load()},
         {"connect_failures_total", n.connect_failures_total.load()},
         {"last_check", nullptr}};
  // The node's application version, where version affinity learns it (null until known).
  if (group.config().version_affinity.enabled) j["version"] = version ? json(*version) : json(nullptr);
  if (const auto probe = checker.last_probe(n)) {
    j["last_check"] = {{"ok", probe->ok},
                       {"status", probe->status == 0 ? json(nullptr) : json(probe->status)},
                       {"latency_ms", static_cast<double>(static_cast<std::int64_t>(probe->latency_ms * 10)) / 10},
                       {"error", probe->error.empty() ? json(nullptr) : json(probe->error)},
                       {"at", format_utc(probe->at_unix_ms)}};
  }
  return j;
}

json upstream_json(const upstream::upstream_group& group, const upstream::health_checker& checker) {
  json nodes = json::array();
  const auto snapshot = group.nodes();
  for (const auto& n : *snapshot) nodes.push_back(node_json(group, *n, checker));
  return {{"name", group.name()},
          {"min_available", group.config().min_available},
          {"eligible", group.eligible_count(nullptr)},
          {"health_check", group.config().health_check.enabled},
          {"nodes", std::move(nodes)}};
}

}  // namespace drawbridge::admin
