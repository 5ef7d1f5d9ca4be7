#include "proxy/proxy_error.hpp"

#include <array>

namespace drawbridge::proxy {

namespace {

using enum error_where;
using metrics::reject_reason;
using metrics::retry_reason;

// The codes and labels here are seen by clients, the dashboard (conf/grafana) and the tests: changing
// one is an interface change.
constexpr std::array<error_entry, static_cast<std::size_t>(error_kind::count)> table{{
    {error_kind::malformed_request, client, 400, "bad_request", "malformed request", reject_reason::malformed, {}},
    {error_kind::malformed_body, client, 400, "bad_request", "malformed request body", {}, {}},
    {error_kind::header_timeout,
     client,
     408,
     "request_timeout",
     "request header not received within client_header",
     reject_reason::header_timeout,
     {}},
    {error_kind::body_timeout,
     client,
     408,
     "request_timeout",
     "client too slow sending the body (timeouts.client_body or limits.min_body_rate)",
     {},
     {}},
    {error_kind::body_too_large,
     client,
     413,
     "body_too_large",
     "request body larger than max_body_size",
     reject_reason::body_too_large,
     {}},
    {error_kind::header_too_large,
     client,
     431,
     "header_too_large",
     "request header larger than max_header_size",
     reject_reason::header_too_large,
     {}},
    {error_kind::not_implemented, client, 501, "not_implemented", "not implemented", reject_reason::other, {}},
    {error_kind::version_not_supported,
     client,
     505,
     "http_version_not_supported",
     "HTTP version not supported",
     reject_reason::version_unsupported,
     {}},
    {error_kind::no_route, client, 404, "no_route", "no route for this host and path", {}, {}},
    {error_kind::client_gone, client, 0, "", "client went away", {}, {}},
    {error_kind::no_node_available, node, 503, "no_node_available", "no node available", {}, {}},
    {error_kind::nodes_at_capacity,
     internal,
     503,
     "no_node_available",
     "every node is at max_connections_per_node",
     {},
     {}},
    {error_kind::connect_failed,
     node,
     503,
     "connect_failed",
     "every node refused or timed out on connect",
     {},
     retry_reason::connect_failed},
    {error_kind::no_response,
     node,
     502,
     "bad_gateway",
     "node closed the connection before responding",
     {},
     retry_reason::no_response},
    {error_kind::gateway_error,
     node,
     502,
     "bad_gateway",
     "every node answered with a gateway error",
     {},
     retry_reason::gateway_error},
    {error_kind::invalid_response, node, 502, "bad_gateway", "node sent an invalid response", {}, {}},
    {error_kind::protocol_switch, node, 502, "bad_gateway", "node switched protocols unasked", {}, {}},
    {error_kind::send_timeout,
     node,
     504,
     "gateway_timeout",
     "node did not accept the request within the send timeout",
     {},
     {}},
    {error_kind::response_timeout,
     node,
     504,
     "gateway_timeout",
     "node did not respond within the read timeout",
     {},
     {}},
    {error_kind::body_failed, node, 502, "bad_gateway", "node failed before its response body", {}, {}},
    {error_kind::body_stalled, node, 504, "gateway_timeout", "node stalled before its response body", {}, {}},
    {error_kind::stale_asset,
     node,
     404,
     "not_found",
     "static file not found on a node of another version",
     {},
     retry_reason::stale_asset},
}};

// describe() indexes the table by kind: every row must sit at its kind's place, and every kind have one.
constexpr bool rows_in_enum_order() {
  for (std::size_t i = 0; i < table.size(); ++i)
    if (static_cast<std::size_t>(table[i].kind) != i) return false;
  return true;
}
static_assert(rows_in_enum_order(), "proxy_error.cpp: a row of the error table is out of its kind's place");

}  // namespace

const error_entry& describe(error_kind kind) { return table[static_cast<std::size_t>(kind)]; }

proxy_error make_error(error_kind kind, bool retry_safe, const char* detail) {
  return {.where = describe(kind).where, .kind = kind, .retry_safe = retry_safe, .detail = detail};
}

proxy_error refusal(unsigned status, const char* reason) {
  error_kind kind = error_kind::malformed_request;
  switch (status) {
    case 408:
      kind = error_kind::header_timeout;
      break;
    case 413:
      kind = error_kind::body_too_large;
      break;
    case 431:
      kind = error_kind::header_too_large;
      break;
    case 501:
      kind = error_kind::not_implemented;
      break;
    case 505:
      kind = error_kind::version_not_supported;
      break;
    default:
      break;
  }
  return make_error(kind, false, reason);
}

}  // namespace drawbridge::proxy
