#pragma once
// One request's trip to an upstream: pick a node, take a pooled connection or connect, send the request
// (streaming its body), read the response header, stream the response back through the client's sink
// (proxy/downstream_sink.hpp). What happens after a failed try is proxy/retry_decision.hpp's to say;
// every failure is a proxy_error (proxy/proxy_error.hpp).

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "metrics/shards.hpp"
#include "proxy/awaitable.hpp"
#include "proxy/downstream_sink.hpp"
#include "proxy/io_deadline.hpp"
#include "proxy/proxy_error.hpp"
#include "proxy/retry_decision.hpp"
#include "upstream/balancer.hpp"
#include "upstream/connection_pool.hpp"
#include "upstream/node.hpp"
#include "upstream/upstream_group.hpp"

namespace drawbridge::proxy {

class worker;
class session_base;
struct runtime;

namespace beast = boost::beast;
namespace http = beast::http;

using request_parser = http::request_parser<http::buffer_body>;
using upstream_request = http::request_header<>;

// Downstream: the client's stream, a plain socket or a TLS stream. The exchange writes to the client only
// through `sink` (any downstream_sink); it reads the request body from `downstream` (an HTTP/2 stream will
// bring a body source of its own), and after a 101 a WebSocket tunnel reads and writes `downstream`
// itself.
template <typename Downstream>
struct exchange_request {
  Downstream& downstream;
  downstream_sink& sink;
  io_deadline& deadline;  // the session's: times every read and write of this exchange
  beast::flat_buffer& downstream_buffer;
  request_parser& parser;              // header done; the body is read through it
  upstream_request& forwarded;         // header already rewritten (and framed) for the node
  std::string& head_buffer;            // scratch for serialised heads, owned by the session
  std::string& tls_scratch;            // where writes to a TLS stream are made contiguous, owned by the session
  std::string& filtered;               // a response filter's output (gzip), owned by the session
  const runtime& rt;                   // the session's snapshot: its config for the whole exchange
  upstream::upstream_group& upstream;  // the one the request was routed to (owned by `rt`)
  std::string_view request_id;
  unsigned client_version;  // 10 or 11
  bool client_keep_alive;
  bool head;
  bool idempotent;
  bool expect_continue;
  bool chunked_body;              // the request body goes to the node chunked (else by Content-Length)
  std::string_view hsts;          // Strict-Transport-Security for the response (HTTPS listeners); empty = none
  bool upgrade = false;           // a WebSocket upgrade, forwarded as one: a 101 from the node opens a tunnel
  session_base* owner = nullptr;  // the session this exchange serves (a tunnel registers under it)
};

struct exchange_outcome {
  unsigned status = 0;                         // sent to the client, or (if !response_started) to be sent (0: none)
  bool response_started = false;               // some of the node's response reached the client
  bool response_complete = false;              // all of it did (one cut short was aborted on the sink)
  bool keep_downstream = false;                // the client connection may serve another request
  proxy_error error;                           // what went wrong, when !response_started: ours to answer (or not)
  std::uint64_t bytes_in = 0;                  // request body bytes relayed to the node
  std::uint64_t bytes_out = 0;                 // response body bytes relayed to the client
  std::shared_ptr<const upstream::node> node;  // held: the admin API may remove the node meanwhile
  double upstream_ms = -1;
};

template <typename Downstream>
class exchange {
 public:
  // `active` is the session's slot for the connection in use, so that a forced shutdown can close it.
  exchange(worker& w, exchange_request<Downstream>& request, upstream::upstream_connection*& active, char* buffer,
           std::size_t buffer_size);

  task<exchange_outcome> run();

 private:
  // not_taken: the node was drained between the pick and the in-flight count; try another.
  // at_capacity: the node has max_connections_per_node requests in flight; try another, or wait.
  // failed: outcome_.error says what, and retry_decision what next.
  enum class step { done, not_taken, at_capacity, failed };
  struct attempt_result {
    step next = step::failed;
    bool request_written = true;  // some of the request reached the node's socket
    bool reusable = false;        // the connection may go back to the pool
    bool node_fault = false;      // the node refused, timed out, reset or sent garbage (counts toward ejection)
  };

  task<step> try_node(const std::shared_ptr<upstream::node>& n);
  void judge_node(upstream::node& n, const attempt_result& result);
  static bool another_eligible(const upstream::node_list& nodes, upstream::tried_set excluded);
  task<std::unique_ptr<upstream::upstream_connection>> connect(upstream::node& n);
  task<attempt_result> attempt(upstream::upstream_connection& connection);
  task<attempt_result> send_request(upstream::upstream_connection& connection);
  task<attempt_result> relay_response(upstream::upstream_connection& connection,
                                      http::response_parser<http::buffer_body>& parser);
  task<attempt_result> tunnel(upstream::upstream_connection& connection,
                              http::response_parser<http::buffer_body>& parser);
  // Records `error` as the outcome (its status is what the client will get).
  void fail(const proxy_error& error);
  void fail(error_kind kind, const char* detail = nullptr) { fail(make_error(kind, false, detail)); }
  // The facts of the try just failed, for decide_retry.
  retry_facts facts(const attempt_result& result, bool pooled, bool fresh_tried) const;
  // What a dead pooled connection costs this request: nothing when it can be sent again on a fresh one
  // (no body, idempotent: see retry_decision.hpp), so the pool may skip its peek (connection_pool.hpp).
  bool replayable() const { return request_.idempotent && !request_has_body_; }
  void count_retry(metrics::retry_reason why);
  // Version affinity, once the request is through: counts a fallback, keeps a stale bundle's 404.
  void finish_version_affinity();
  // Version affinity: the request names a version, and a node of it (eligible, not in `excluded`) exists.
  bool named_version_elsewhere(const upstream::node_list& nodes, upstream::tried_set excluded) const;

  worker& worker_;
  exchange_request<Downstream>& request_;
  upstream::upstream_connection*& active_;
  char* buffer_;
  std::size_t buffer_size_;
  bool request_has_body_;
  // Set before each try: a node not tried yet could take the request (looked for only when replayable).
  bool another_node_eligible_ = false;
  bool queued_ = false;             // woken from the queue for a node slot, and not yet through (see run)
  upstream::node* node_ = nullptr;  // the node of the try in progress
  // Version affinity (null/empty without it): the settings, the version the request names and its cookie.
  const conf::version_affinity_config* affinity_ = nullptr;
  std::string_view named_version_;
  std::string_view version_cookie_;
  // A GET under /static/ naming a version: a 404 from a node of another version may be asked again of a
  // node of the named version (once; set before each try when such a node is left).
  bool stale_asset_retry_ = false;
  bool stale_asset_retried_ = false;
  // The named version's nodes stayed at max_connections_per_node until the queue's deadline: no longer
  // waited for (the request may go to another version's node).
  bool waited_out_ = false;
  downstream_sink& sink_;  // request_.sink
  exchange_outcome outcome_;
};

}  // namespace drawbridge::proxy
