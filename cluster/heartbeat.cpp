#include "cluster/heartbeat.hpp"

#include <nlohmann/json.hpp>

namespace drawbridge::cluster {

using nlohmann::json;

namespace {

// `out` = j[key] when it is there with the type of `out`; otherwise `out` is left as it was.
void take(const json& j, const char* key, std::string& out) {
  if (const auto it = j.find(key); it != j.end() && it->is_string()) out = it->get<std::string>();
}
void take(const json& j, const char* key, std::int64_t& out) {
  if (const auto it = j.find(key); it != j.end() && it->is_number_integer()) out = it->get<std::int64_t>();
}
void take(const json& j, const char* key, std::optional<std::int64_t>& out) {
  if (const auto it = j.find(key); it != j.end() && it->is_number_integer()) out = it->get<std::int64_t>();
}
void take(const json& j, const char* key, std::uint64_t& out) {
  if (const auto it = j.find(key); it != j.end() && it->is_number_unsigned()) out = it->get<std::uint64_t>();
}
void take(const json& j, const char* key, bool& out) {
  if (const auto it = j.find(key); it != j.end() && it->is_boolean()) out = it->get<bool>();
}

node_report parse_node(const json& j) {
  node_report n;
  take(j, "state", n.state);
  take(j, "admin", n.admin);
  take(j, "health", n.health);
  take(j, "eligible", n.eligible);
  take(j, "in_flight", n.in_flight);
  return n;
}

}  // namespace

const upstream_report* heartbeat::upstream(const std::string& name) const {
  const auto it = upstreams.find(name);
  return it == upstreams.end() ? nullptr : &it->second;
}

const node_report* heartbeat::node(const std::string& upstream_name, const std::string& node_name) const {
  const auto* u = upstream(upstream_name);
  if (!u) return nullptr;
  const auto it = u->nodes.find(node_name);
  return it == u->nodes.end() ? nullptr : &it->second;
}

// The wire form keeps "applied" apart from "upstreams" ({upstream: {epoch, version}}): GET /v1/cluster
// shows it as it is.
json heartbeat_json(const heartbeat& h) {
  json applied = json::object();
  json upstreams = json::object();
  for (const auto& [name, u] : h.upstreams) {
    applied[name] = {{"epoch", u.applied_epoch}, {"version", u.applied_version}};
    json nodes = json::object();
    for (const auto& [node_name, n] : u.nodes)
      nodes[node_name] = {{"state", n.state},
                          {"admin", n.admin},
                          {"health", n.health},
                          {"eligible", n.eligible},
                          {"in_flight", n.in_flight ? json(*n.in_flight) : json(nullptr)}};
    upstreams[name] = std::move(nodes);
  }
  return {{"replica", h.replica},
          {"pid", h.pid},
          {"version", h.version},
          {"at", h.at_ms},
          {"ttl_ms", h.ttl_ms},
          {"in_flight", h.in_flight},
          {"applied", std::move(applied)},
          {"upstreams", std::move(upstreams)}};
}

std::optional<heartbeat> parse_heartbeat(const std::string& text) {
  const auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  heartbeat h;
  take(j, "replica", h.replica);
  take(j, "pid", h.pid);
  take(j, "version", h.version);
  take(j, "at", h.at_ms);
  take(j, "ttl_ms", h.ttl_ms);
  take(j, "in_flight", h.in_flight);
  if (const auto u = j.find("upstreams"); u != j.end() && u->is_object())
    for (const auto& [name, nodes] : u->items()) {
      if (!nodes.is_object()) continue;
      auto& out = h.upstreams[name];
      for (const auto& [node_name, n] : nodes.items())
        if (n.is_object()) out.nodes[node_name] = parse_node(n);
    }
  if (const auto a = j.find("applied"); a != j.end() && a->is_object())
    for (const auto& [name, v] : a->items()) {
      // Only for an upstream the replica reported: an applied version alone says nothing of its nodes.
      const auto it = h.upstreams.find(name);
      if (it == h.upstreams.end() || !v.is_object()) continue;
      take(v, "epoch", it->second.applied_epoch);
      take(v, "version", it->second.applied_version);
    }
  return h;
}

}  // namespace drawbridge::cluster
