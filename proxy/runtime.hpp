#pragma once
// Everything the workers share: the config and routes (immutable once built) and the upstreams, whose
// node lists and nodes' atomics are what changes at run time. A runtime is a snapshot: a new config
// becomes a new runtime, published through runtime_source (proxy/runtime_source.hpp); sessions keep the
// one they started with. Upstreams and listeners are found by name, never by position, in anything that
// outlives a request.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
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
  // The workers' metric shards (each worker writes its own; the pointer's target is not const). Shared
  // with the runtimes built after this one, so counts go on across a new snapshot.
  std::shared_ptr<metrics::registry> metrics;
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
};

// By name; null when this runtime has no such upstream or listener.
const upstream::upstream_group* find_upstream(const runtime& rt, std::string_view name);
const listener* find_listener(const runtime& rt, std::string_view name);

struct runtime_result {
  std::shared_ptr<const runtime> value;  // null when errors is not empty
  std::vector<std::string> errors;
};

// Resolves node addresses (blocking), loads the listeners' certificates and builds the route table.
// `metrics`: the registry of the runtime this one follows, so that its counts go on; null for a new one.
runtime_result build_runtime(conf::config config, std::shared_ptr<metrics::registry> metrics = nullptr);

}  // namespace drawbridge::proxy
