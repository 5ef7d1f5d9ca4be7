#pragma once
// The one shape of a failure on the data path: where it came from, what it is, and whether replaying the
// request elsewhere is safe. What a kind means to the outside (the status answered, the JSON `code`, the
// reason logged and the metric label it counts under) is decided once, in the table of proxy_error.cpp,
// so that two failures answering the same status can still say different things (connect_failed and
// no_node_available are both 503s).

#include <cstdint>
#include <optional>
#include <string_view>

#include "metrics/shards.hpp"

namespace drawbridge::proxy {

// Which side failed: the client (bad or slow input, gone), a node (refused, silent, garbled, slow), or
// drawbridge itself (its own limits).
enum class error_where : std::uint8_t { client, node, internal };

enum class error_kind : std::uint8_t {
  // The client's request, refused before or while it is forwarded.
  malformed_request,      // 400: framing, fields, target
  malformed_body,         // 400: a chunked body that breaks the rules
  header_timeout,         // 408: the header did not arrive within client_header
  body_timeout,           // 408: the body came too slowly
  body_too_large,         // 413
  header_too_large,       // 431
  not_implemented,        // 501: CONNECT, a transfer coding other than chunked
  version_not_supported,  // 505
  no_route,               // 404
  client_gone,            // no answer: nobody is left to read one
  // No node to send the request to.
  no_node_available,  // 503: no eligible node
  nodes_at_capacity,  // 503: every node at max_connections_per_node for longer than the connect timeout
  // A node's failures.
  connect_failed,    // 503: every node tried refused or timed out on connect
  no_response,       // 502: closed before any response byte
  gateway_error,     // 502: every node tried answered 502/503/504 to a request that could move on
  invalid_response,  // 502: a response header that does not parse, or a status out of range
  protocol_switch,   // 502: a 101 nobody asked for, or to another protocol than WebSocket
  send_timeout,      // 504: the node did not take the request within the send timeout
  response_timeout,  // 504: no response header within the read timeout
  body_failed,       // 502: the node failed before its response body reached the client
  body_stalled,      // 504: ... by stalling
  stale_asset,       // 404: a static file missing on a node of another version than the request named (retried)
  count
};

struct proxy_error {
  error_where where = error_where::internal;
  error_kind kind = error_kind::no_node_available;
  // Sending the request again (to another node) cannot repeat its effect: nothing of it reached a node,
  // or it is idempotent and has no body.
  bool retry_safe = false;
  // Replaces the table's reason in the answer and the log when set (the request checks' own words);
  // static storage.
  const char* detail = nullptr;
};

// What a kind means outside. `status` 0 = no answer is sent (the access log records 0).
struct error_entry {
  error_kind kind;  // the row's own kind: the table is checked at compile time to be in enum order
  error_where where;
  unsigned status;
  const char* code;    // the JSON body's error.code
  const char* reason;  // the JSON body's error.message and the log's words, unless a detail replaces it
  // The metric label the failure counts under, when it counts: drawbridge_rejected_requests_total's
  // (refused before routing) and drawbridge_retries_total's (a node's failure another node may make good).
  std::optional<metrics::reject_reason> rejected;
  std::optional<metrics::retry_reason> retried;
};

const error_entry& describe(error_kind kind);

// An error of `kind`, its side taken from the table.
proxy_error make_error(error_kind kind, bool retry_safe = false, const char* detail = nullptr);

inline unsigned status_of(const proxy_error& e) { return describe(e.kind).status; }
inline const char* code_of(const proxy_error& e) { return describe(e.kind).code; }
inline const char* reason_of(const proxy_error& e) { return e.detail ? e.detail : describe(e.kind).reason; }
// Whether the client gets an answer of ours (not when it went away).
inline bool answered(const proxy_error& e) { return status_of(e) != 0; }

// The request checks (proxy/request_validator.hpp) speak in statuses, which tests and fuzzers assert on:
// the refusal they mean, with their reason as its detail.
proxy_error refusal(unsigned status, const char* reason);

}  // namespace drawbridge::proxy
