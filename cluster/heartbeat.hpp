#pragma once
// What a replica tells the others every heartbeat (written to Redis as JSON, read back by each of them):
// the shared state it has applied, and how it sees every node. The one place that knows its JSON form.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace drawbridge::cluster {

// One node as a replica sees it. Its health verdict is its own: the replicas' network paths differ.
struct node_report {
  std::string state;                      // the display word (upstream::node_state)
  std::string admin;                      // ready, draining, drained
  std::string health;                     // unknown, healthy, unhealthy
  bool eligible = false;                  // the replica sends it requests
  std::optional<std::int64_t> in_flight;  // absent: not reported, so unknown
};

// An upstream as a replica has it: the shared state's version it applied, and its nodes.
struct upstream_report {
  std::string applied_epoch;
  std::uint64_t applied_version = 0;
  std::map<std::string, node_report> nodes;
};

struct heartbeat {
  std::string replica;  // its name (the link fills it in)
  std::int64_t pid = 0;
  std::string version;      // drawbridge's
  std::int64_t at_ms = 0;   // Unix time it was written (the link fills it in)
  std::int64_t ttl_ms = 0;  // how long Redis keeps it (the link fills it in)
  std::int64_t in_flight = 0;
  std::map<std::string, upstream_report> upstreams;

  const upstream_report* upstream(const std::string& name) const;
  const node_report* node(const std::string& upstream_name, const std::string& node_name) const;
};

nlohmann::json heartbeat_json(const heartbeat& h);
// Another process's text: what is not a JSON object is nullopt; a field of the wrong type keeps its
// default, and an upstream or node entry that is not an object is left out.
std::optional<heartbeat> parse_heartbeat(const std::string& text);

}  // namespace drawbridge::cluster
