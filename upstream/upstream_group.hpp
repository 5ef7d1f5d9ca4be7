#pragma once
// A named pool of nodes with its balancing policy and keep-alive settings. Immutable after start-up;
// the nodes' own atomics carry everything that changes at run time.

#include <memory>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "upstream/node.hpp"

namespace drawbridge::upstream {

struct upstream_group {
  std::string name;
  conf::balance_kind balance = conf::balance_kind::round_robin;
  conf::keepalive_config keepalive;
  std::vector<std::shared_ptr<node>> nodes;
};

struct resolve_result {
  std::vector<std::shared_ptr<const upstream_group>> groups;  // in config order
  std::vector<std::string> errors;  // "upstreams[0].nodes[1].address: cannot resolve \"x\": ..."
};

// Resolves every node's host name (blocking; start-up only) and builds the groups.
resolve_result build_upstreams(const std::vector<conf::upstream_config>& upstreams);

}  // namespace drawbridge::upstream
