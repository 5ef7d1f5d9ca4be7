#pragma once
// The admin REST API: admission (Host, browsers, tokens), routing, JSON in and out, the audit log. The
// operations themselves are control_plane's. Control thread only.
//
//   GET    /healthz                                   200 while the process serves (no token needed)
//   GET    /readyz                                    200 once every upstream has a node taking requests
//   GET    /v1/upstreams, /v1/upstreams/{u}, /v1/upstreams/{u}/nodes, /v1/upstreams/{u}/nodes/{n}
//   POST   /v1/upstreams/{u}/nodes/{n}/drain[?wait=D][&force=true]   at D, WebSocket tunnels get a 1001 close
//   POST   /v1/upstreams/{u}/nodes/{n}/undrain[?wait=D]
//   POST   /v1/upstreams/{u}/nodes                    {"name","address","weight"}
//   DELETE /v1/upstreams/{u}/nodes/{n}[?wait=D][&force=true]
//   GET    /v1/tls                                    every certificate served: names, issuer, expiry, source; ACME
//   state POST   /v1/tls/reload                             re-read the HTTPS listeners' certificates POST
//   /v1/tls/renew[?listener=ADDRESS]           ACME listeners order a new certificate now POST   /v1/config/reload
//   re-read the config file and apply it whole (or not at all) GET    /v1/info version, pid, start time, config path,
//   sha256, generation GET    /metrics                                   Prometheus text format (token only with
//   admin.metrics_auth)
//
// Path segments are percent-decoded ({u} and {n} may hold any character a config allows in a name).

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "admin/control_plane.hpp"
#include "admin/http_server.hpp"
#include "admin/metrics_page.hpp"

namespace drawbridge::admin {

class admin_api {
 public:
  explicit admin_api(control_plane& control) : control_(control) {}

  // After the request's header, before its body is read: 421 for a Host that does not name this listener
  // (loopback listeners only), 403 for a web page, 401 without a valid token. A refused call is logged
  // without the names in its path: nobody vouches for them.
  admission admit(const request_head& head, const std::string& client);
  // The whole request, once admitted; `caller` is the token's name for the audit log.
  net_types::task<response> handle(const request& req, const std::string& client, const std::string& caller);

 private:
  struct call;  // one request being answered: its parsed target, its audit fields
  net_types::task<response> route(call& c);
  net_types::task<response> node_action(call& c, const std::shared_ptr<upstream::upstream_group>& group,
                                        const std::shared_ptr<upstream::node>& n, const std::string& action);
  net_types::task<response> add_node(call& c, const std::shared_ptr<upstream::upstream_group>& group);
  net_types::task<response> remove_node(call& c, const std::shared_ptr<upstream::upstream_group>& group,
                                        const std::shared_ptr<upstream::node>& n);
  net_types::task<response> reload_tls(call& c);
  response tls_status() const;
  response renew_tls(call& c);
  response reload_config();
  net_types::task<response> upgrade();
  response info() const;
  nlohmann::ordered_json config_json() const;
  // Waits up to the call's `wait` for the drain (or the removal) to settle, then has the node's tunnels go
  // away (see the .cpp).
  net_types::task<bool> wait_out_drain(call& c, std::shared_ptr<upstream::upstream_group> group,
                                       std::shared_ptr<upstream::node> n, bool removal);
  // A refused change as an error response (503s with Retry-After).
  response refusal_response(const refusal& r) const;
  // "2 request(s) in flight here, 1 through replica edge-2": what a drain's wait is still waiting for.
  std::string in_flight_here_and_there(const upstream::upstream_group& group, const upstream::node& n) const;
  net_types::task<nlohmann::ordered_json> replica_views(std::string upstream, std::string node_name);
  net_types::task<response> cluster_status();
  // Polls `done` every 20 ms until it holds (true) or `limit` passes or the process stops (false).
  net_types::task<bool> wait_until(std::function<bool()> done, std::chrono::milliseconds limit);

  control_plane& control_;
  action_counts actions_;  // for drawbridge_admin_actions_total
};

}  // namespace drawbridge::admin
