#pragma once
// Everything the workers share: the config and routes (immutable once built) and the upstreams, whose
// node lists and nodes' atomics are what changes at run time.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "metrics/shards.hpp"
#include "proxy/listener.hpp"
#include "proxy/route_table.hpp"
#include "upstream/upstream_group.hpp"

namespace drawbridge::proxy {

struct runtime {
  conf::config config;
  std::vector<std::unique_ptr<listener>> listeners;                  // config order; TLS contexts loaded
  std::vector<std::shared_ptr<upstream::upstream_group>> upstreams;  // config order
  route_table routes;
  // The workers' metric shards (each worker writes its own; the pointer's target is not const).
  std::unique_ptr<metrics::registry> metrics;
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
};

struct runtime_result {
  std::shared_ptr<const runtime> value;  // null when errors is not empty
  std::vector<std::string> errors;
};

// Resolves node addresses (blocking), loads the listeners' certificates and builds the route table.
runtime_result build_runtime(conf::config config);

}  // namespace drawbridge::proxy
