#pragma once
// What an exchange does after one try on a node went wrong: the whole retry policy, as a pure function of
// what is known about the request and the try (no I/O, no clock), so that its table can be tested alone.
//  - a failed connect moves on to the next node, for any method: nothing of the request was sent;
//  - a reused pooled connection that fails before any response byte is tried once more on a fresh
//    connection to the same node (the node had closed it while idle), when the request has no body and
//    is idempotent or never got written;
//  - an idempotent request without a body moves on to the next node when a node fails before any
//    response byte, or answers 502/503/504 (a booting or overloaded node) while another node could take it;
//  - a GET under /static/ answered 404 by a node of another version than the request named (version
//    affinity) moves on once, to a node of the named version;
//  - anything else (a POST whose bytes reached a node, a timeout, a garbled response) is not replayed.

#include <cstdint>

#include "proxy/proxy_error.hpp"

namespace drawbridge::proxy {

enum class retry_action : std::uint8_t {
  give_up,                     // answer with the error (or relay the node's answer as it is)
  same_node_fresh_connection,  // once, on a new connection to the node just tried
  next_node,                   // the balancer picks another node, if one is left
};

// Every field is named at the call site: retry_facts{.failure = ..., .idempotent = ...}.
struct retry_facts {
  // connect_failed, no_response (the node closed or reset before any response byte), gateway_error (the
  // node answered 502/503/504, not yet relayed) or stale_asset; any other kind is never retried.
  error_kind failure = error_kind::no_response;
  bool idempotent = false;
  bool has_body = false;                // the request has a body (whatever part of it was sent)
  bool request_written = true;          // some of the request reached the node's socket
  bool pooled_connection = false;       // the try used a connection from the keepalive pool
  bool fresh_connection_tried = false;  // this node already had its one try on a fresh connection
  bool another_node_eligible = false;   // a node not tried yet could take the request
};

retry_action decide_retry(const retry_facts& facts);

// Whether a request may be sent to another node after its bytes reached one (proxy_error::retry_safe).
inline bool replay_safe(bool idempotent, bool has_body) { return idempotent && !has_body; }

}  // namespace drawbridge::proxy
