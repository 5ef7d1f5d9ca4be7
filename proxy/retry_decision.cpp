#include "proxy/retry_decision.hpp"

namespace drawbridge::proxy {

retry_action decide_retry(const retry_facts& f) {
  const bool replayable = replay_safe(f.idempotent, f.has_body);
  switch (f.failure) {
    case error_kind::connect_failed:
      return retry_action::next_node;
    case error_kind::no_response:
      // The pooled connection had died while idle: the node itself may be fine.
      if (f.pooled_connection && !f.fresh_connection_tried && !f.has_body && (f.idempotent || !f.request_written))
        return retry_action::same_node_fresh_connection;
      return replayable ? retry_action::next_node : retry_action::give_up;
    case error_kind::gateway_error:
      return replayable && f.another_node_eligible ? retry_action::next_node : retry_action::give_up;
    case error_kind::stale_asset:  // a GET whose 404 was not relayed; `another` = a node of the named version
      return replayable && f.another_node_eligible ? retry_action::next_node : retry_action::give_up;
    default:
      return retry_action::give_up;
  }
}

}  // namespace drawbridge::proxy
