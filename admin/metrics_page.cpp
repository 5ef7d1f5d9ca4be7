#include "admin/metrics_page.hpp"

#include <memory>

#include "admin/acme_collector.hpp"
#include "admin/cluster_collector.hpp"
#include "admin/config_collector.hpp"
#include "metrics/process_collector.hpp"
#include "proxy/tls_collector.hpp"
#include "proxy/worker_collector.hpp"
#include "upstream/health_collector.hpp"
#include "upstream/upstream_collector.hpp"

namespace drawbridge::admin {

metrics::collector_list metrics_collectors(const proxy::runtime& rt, const action_counts& actions,
                                           const config_status* config, const cluster::cluster_link* link,
                                           const acme_counts* acme) {
  metrics::collector_list list = {
      std::make_shared<metrics::process_collector>(),  // drawbridge_build_info first, then process_
      // Before upstream_collector: its requests without an upstream open drawbridge_requests_total.
      std::make_shared<proxy::worker_collector>(*rt.metrics, rt.listeners),
      std::make_shared<upstream::upstream_collector>(rt.upstreams, *rt.metrics),
      std::make_shared<upstream::health_collector>(rt.upstreams),
      std::make_shared<proxy::tls_collector>(rt.listeners),
      std::make_shared<admin_actions_collector>(actions),
  };
  if (config) list.push_back(std::make_shared<config_collector>(*config));
  if (link) list.push_back(std::make_shared<cluster_collector>(*link));
  if (acme) list.push_back(std::make_shared<acme_collector>(*acme));
  return list;
}

std::string render_metrics(const proxy::runtime& rt, const action_counts& actions, const config_status* config,
                           const cluster::cluster_link* link, const acme_counts* acme) {
  return metrics::expose(metrics_collectors(rt, actions, config, link, acme));
}

}  // namespace drawbridge::admin
