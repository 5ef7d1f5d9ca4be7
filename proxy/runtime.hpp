#pragma once
// Everything the workers share: the config and routes (immutable once built) and the upstreams, whose
// node lists and nodes' atomics are what changes at run time. A runtime is a snapshot: a new config
// becomes a new runtime, published through proxy::server::publish (proxy/runtime_source.hpp); a request
// is served with one runtime from start to end. Upstreams and listeners are found by name, never by
// position, in anything that outlives a request.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "metrics/shards.hpp"
#include "proxy/access_log.hpp"
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
  // Where this runtime's requests are logged (a request is logged to the log of the runtime it was served
  // with). Shared with the runtimes built after this one while access_log's config stays the same.
  std::shared_ptr<access_log> log;
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
struct build_options {
  bool reopen_log = false;  // open the access log afresh even when its config did not change (SIGUSR1)
};
runtime_result build_runtime(conf::config config, const runtime* previous = nullptr, build_options options = {});

// For a changed upstream of the same name (`was` configured `previous`; `next` is freshly built from
// `now`): a node listed in both at the same address is the previous node object (its admin state, health,
// counts, pools and in-flight requests go on); one the admin API removed stays removed; one the admin API
// added stays, unless `now` configures it. A node whose address changed is the new node, drained if the
// old one was not ready. Publishes the list to `next`, which nobody else sees yet. An error when the
// result would be over conf::max_nodes_per_upstream. Weights are not touched here (a reload that is rolled
// back must change nothing shared): the caller sets them once it commits.
std::optional<std::string> carry_nodes(const conf::upstream_config& was, const upstream::upstream_group& previous,
                                       const conf::upstream_config& now, upstream::upstream_group& next);

// Why the process cannot take `next` in place of `current`, one line per reason naming its place in the
// config; empty when it can. Listeners and upstreams may come, go and change (build_runtime carries nodes
// over; server::publish binds and closes listeners), and so may routes, limits, timeouts, gzip, the access
// log and the log level. What is read once at start-up (workers, the admin listener, the state file, and
// whether connections are counted per address) must stay as it is.
std::vector<std::string> swap_refusals(const runtime& current, const runtime& next);

}  // namespace drawbridge::proxy
