#pragma once
// Nodes and upstream groups for sans-IO unit tests: no address is resolved and nothing connects (every
// node says 127.0.0.1:1 and has no endpoints).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "upstream/upstream_group.hpp"

namespace drawbridge::upstream {

inline std::shared_ptr<node> test_node(const std::string& name, std::uint32_t weight = 1) {
  return std::make_shared<node>(name, conf::host_port{"127.0.0.1", 1}, weight,
                                std::vector<boost::asio::ip::tcp::endpoint>{});
}

// Nodes "n0", "n1", ... with these weights.
inline node_list test_nodes(const std::vector<std::uint32_t>& weights) {
  node_list nodes;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    std::string name = "n";  // built in two steps: g++ 12 warns falsely on "n" + to_string(i)
    name += std::to_string(i);
    nodes.push_back(test_node(name, weights[i]));
  }
  return nodes;
}

// An upstream "app" (unless `config` names one) of `count` nodes n0, n1, ... of weight 1.
inline std::shared_ptr<upstream_group> test_group(conf::upstream_config config, int count) {
  if (config.name.empty()) config.name = "app";
  return std::make_shared<upstream_group>(config, test_nodes(std::vector<std::uint32_t>(count, 1)));
}

}  // namespace drawbridge::upstream
