#pragma once
// Everything the workers share: the config and routes (immutable once built) and the upstreams, whose
// node lists and nodes' atomics are what changes at run time. A runtime is a snapshot: a new config
// becomes a new runtime, published through proxy::server::publish (proxy/runtime_source.hpp); a request
// is served with one runtime from start to end. Upstreams and listeners are found by name, never by
// position, in anything that outlives a request.

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
  // Config order. Shared with the runtimes built after this one, for as long as their config of the
  // listener (by address) or upstream (by name) stays the same (build_runtime).
  std::vector<std::shared_ptr<listener>> listeners;                  // TLS contexts loaded
  std::vector<std::shared_ptr<upstream::upstream_group>> upstreams;  // nodes as the admin API left them
  route_table routes;
  // The workers' metric shards (each worker writes its own; the pointer's target is not const). Shared
  // with the runtimes built after this one, so counts go on across a new snapshot.
  std::shared_ptr<metrics::registry> metrics;
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
};

struct runtime_result {
  std::shared_ptr<const runtime> value;  // null when errors is not empty
  std::vector<std::string> errors;
};

// Resolves node addresses (blocking), loads the listeners' certificates and builds the route table.
// With `previous` (the runtime this one follows), listeners and upstreams whose config did not change are
// taken over as they are (the same objects: loaded certificates, node state, nodes added at run time,
// the workers' pools), and the metrics registry is shared.
runtime_result build_runtime(conf::config config, const runtime* previous = nullptr);

// Why the workers cannot take `next` in place of `current` today, one line per reason naming its place
// in the config; empty when they can. What only the workers read may change: routes, the upstreams'
// order, limits other than the connection counts, timeouts, gzip, trusted_proxies. Listeners and
// upstreams must be `current`'s own objects (build_runtime takes unchanged ones over): the control thread
// (health checks, ejections, drains, the admin API, certificate reloads) knows only those, and
// re-binding listeners is not written either. What is read once at start-up must stay as it is.
std::vector<std::string> swap_refusals(const runtime& current, const runtime& next);

}  // namespace drawbridge::proxy
