#pragma once
// What GET /metrics returns: the families of every collector, serialised by prometheus-cpp. Each component
// declares its series beside itself (upstream/upstream_collector, upstream/health_collector,
// proxy/worker_collector, proxy/tls_collector, admin/admin_actions_collector, metrics/process_collector);
// this is where they are put together. Control thread.

#include <string>

#include "admin/admin_actions_collector.hpp"
#include "admin/control_plane.hpp"
#include "metrics/exposition.hpp"
#include "proxy/runtime.hpp"

namespace drawbridge::admin {

// The collectors of a scrape of `rt`, in the order a scrape shows them. They read `rt` and `actions` when
// collected: both must outlive the list.
// `config`: the reloads (admin/config_collector), when there is a control plane; `link`: the cluster's
// (admin/cluster_collector), in cluster mode; `acme`: the ACME orders (admin/acme_collector).
metrics::collector_list metrics_collectors(const proxy::runtime& rt, const action_counts& actions,
                                           const config_status* config = nullptr,
                                           const cluster::cluster_link* link = nullptr,
                                           const acme_counts* acme = nullptr);

// Collects and serialises metrics_collectors(rt, actions): the runtime given is the one scraped, so a
// runtime replaced whole (or a node added) shows at the next scrape without any registry to resize.
std::string render_metrics(const proxy::runtime& rt, const action_counts& actions,
                           const config_status* config = nullptr, const cluster::cluster_link* link = nullptr,
                           const acme_counts* acme = nullptr);

}  // namespace drawbridge::admin
