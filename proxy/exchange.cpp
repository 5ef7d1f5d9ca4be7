#include "proxy/exchange.hpp"

#include "proxy/field_text.hpp"
#include "tls/tls_socket.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ssl/error.hpp>
#include <chrono>
#include <optional>
#include <type_traits>

#include "net/readiness.hpp"
#include "proxy/body_limits.hpp"
#include "proxy/filter_relay.hpp"
#include "proxy/gzip_filter.hpp"
#include "proxy/h2_body.hpp"
#include "proxy/h2_stream.hpp"
#include "proxy/head_writer.hpp"
#include "proxy/header_rewrite.hpp"
#include "proxy/relay.hpp"
#include "proxy/response_framing.hpp"
#include "proxy/tunnel.hpp"
#include "proxy/version_affinity.hpp"
#include "proxy/worker.hpp"
#include "upstream/node_version.hpp"
#include "upstream/response_head.hpp"
#include "upstream/upstream_group.hpp"
#include "upstream/upstream_tls.hpp"

namespace drawbridge::proxy {

namespace {
constexpr std::size_t node_read_size = 16 * 1024;  // as HAProxy's default buffer

// A 101 that completes a WebSocket handshake (RFC 6455 §4.2.2): it switches to `websocket` and carries
// the key's proof. (The proof itself is the client's to check.)
bool is_websocket_accept(const http::response_header<>& h) {
  return iequals_ascii(h[http::field::upgrade], "websocket") && !h[http::field::sec_websocket_accept].empty();
}

template <typename Downstream>
constexpr bool is_h2 = std::is_same_v<Downstream, h2_stream>;

// An HTTP/2 stream its client reset (or whose connection went): its node connection was cut on our side
// (h2_stream::on_closed), so whatever failed on it is no fault of the node's, nor worth a warning.
template <typename Downstream>
bool stream_cut(Downstream& downstream) {
  if constexpr (is_h2<Downstream>)
    return downstream.closed();
  else
    return false;
}

// The client's connection is TLS (the version cookie is then Secure).
template <typename Downstream>
bool secure_client(Downstream& downstream) {
  if constexpr (is_h2<Downstream>)
    return downstream.secure();
  else
    return std::is_same_v<Downstream, tls::tls_socket>;
}
}  // namespace

using upstream::upstream_connection;

namespace {
// Publishes the connection in use in the session's slot (so that a forced shutdown can close it) and
// clears the slot on every way out of the scope.
struct active_connection {
  active_connection(upstream_connection*& slot, upstream_connection* connection) : slot_(slot) { slot_ = connection; }
  ~active_connection() { slot_ = nullptr; }
  active_connection(const active_connection&) = delete;
  active_connection& operator=(const active_connection&) = delete;
  upstream_connection*& slot_;
};
}  // namespace

template <typename Downstream>
exchange<Downstream>::exchange(worker& w, exchange_request<Downstream>& request, upstream_connection*& active,
                               char* buffer, std::size_t buffer_size)
    : worker_(w),
      request_(request),
      active_(active),
      buffer_(buffer),
      buffer_size_(buffer_size),
      request_has_body_(!request.parser.is_done()),
      sink_(request.sink) {
  if (const auto& affinity = request.upstream.config().version_affinity; affinity.enabled) {
    affinity_ = &affinity;
    const auto named = version_named_by(request.forwarded, affinity);
    named_version_ = named.version;
    version_cookie_ = named.cookie;
  }
}

template <typename Downstream>
void exchange<Downstream>::fail(const proxy_error& error) {
  outcome_.status = status_of(error);
  outcome_.error = error;
}

template <typename Downstream>
retry_facts exchange<Downstream>::facts(const attempt_result& result, bool pooled, bool fresh_tried) const {
  return {.failure = outcome_.error.kind,
          .idempotent = request_.idempotent,
          .has_body = request_has_body_,
          .request_written = result.request_written,
          .pooled_connection = pooled,
          .fresh_connection_tried = fresh_tried,
          .another_node_eligible = another_node_eligible_};
}

template <typename Downstream>
task<exchange_outcome> exchange<Downstream>::run() {
  const auto started = std::chrono::steady_clock::now();
  const auto now_ms = upstream::steady_ms(started);
  std::vector<const upstream::node*> tried;                    // allocates only when a request moves on to another node
  std::vector<const upstream::node*> full;                     // at max_connections_per_node when last tried
  std::optional<metrics::retry_reason> moving_on;              // why the last node did not do
  std::optional<io_deadline::clock::time_point> queued_until;  // when waiting for a free node gives up
  fail(error_kind::no_node_available);
  for (;;) {
    // An HTTP/2 stream the client reset (or whose connection went) is served no further: no node is tried
    // for nobody.
    if constexpr (is_h2<Downstream>) {
      if (request_.downstream.closed()) {
        fail(error_kind::client_gone);
        break;
      }
    }
    // The view may change while a try is in progress (the admin API added or removed a node), so the
    // tried set is rebuilt against the current one.
    auto& view = worker_.view(request_.upstream);
    upstream::tried_set tried_bits = 0;
    upstream::tried_set busy_bits = 0;
    for (const auto* t : tried)
      if (const int i = view.index_of(t); i >= 0) tried_bits |= upstream::tried_set{1} << i;
    for (const auto* t : full)
      if (const int i = view.index_of(t); i >= 0) busy_bits |= upstream::tried_set{1} << i;
    tried_bits |= busy_bits;
    const int index =
        view.balancer->pick({.version = named_version_, .busy = waited_out_ ? 0 : busy_bits}, tried_bits, now_ms);
    if (index == upstream::no_node) {
      if (full.empty()) break;
      // Every node that could take the request is at max_connections_per_node: it waits for a free
      // slot, up to the connect timeout, then gets a 503.
      // A request woken for a slot that another took first goes back to the head of the queue.
      if (!queued_until) queued_until = io_deadline::clock::now() + request_.rt.config.timeouts.connect;
      const bool woken = co_await worker_.wait_for_node_slot(*queued_until, /*front=*/queued_);
      if (!woken && (!affinity_ || waited_out_)) {
        fail(error_kind::nodes_at_capacity);
        break;
      }
      // Version affinity: the named version's nodes stayed full until the deadline. One more round, on
      // any version's nodes (a fallback), before the 503.
      if (!woken) waited_out_ = true;
      queued_ = woken;
      full.clear();
      continue;
    }

    auto n = (*view.nodes)[static_cast<std::size_t>(index)];
    const auto after_this = tried_bits | (upstream::tried_set{1} << index);
    another_node_eligible_ = replayable() && another_eligible(*view.nodes, after_this);
    stale_asset_retry_ = affinity_ && !named_version_.empty() && !stale_asset_retried_ && replayable() &&
                         is_static_asset(request_.forwarded) && named_version_elsewhere(*view.nodes, after_this);
    const step result = co_await try_node(n);
    // A request that held a slot of a limited node gave it back: the first waiter tries again.
    if (result != step::at_capacity && request_.upstream.config().max_connections_per_node) worker_.node_slot_freed();
    if (result == step::at_capacity) {
      full.push_back(n.get());
      continue;
    }
    if (result != step::not_taken && moving_on) {  // another node took what the last one failed
      count_retry(*moving_on);
      moving_on.reset();
    }
    const upstream::node* attempted = n.get();
    if (result != step::not_taken) outcome_.node = std::move(n);   // moved: one less shared count change
    if (result == step::done || outcome_.response_started) break;  // what reached the client is never replayed
    tried.push_back(attempted);
    if (result == step::not_taken) continue;
    // try_node had its fresh connection already, if one was due.
    if (decide_retry(facts({}, false, true)) != retry_action::next_node) break;
    moving_on = describe(outcome_.error.kind).retried;
  }
  if (affinity_) finish_version_affinity();
  if (outcome_.node)
    outcome_.upstream_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  co_return outcome_;
}

template <typename Downstream>
task<typename exchange<Downstream>::step> exchange<Downstream>::try_node(
    const std::shared_ptr<upstream::node>& node_ptr) {
  auto& n = *node_ptr;
  node_ = &n;
  const auto max_in_flight = request_.upstream.config().max_connections_per_node;
  // Holds the ordering drain relies on (upstream/node.hpp): admitted means a drain will wait for it.
  const auto guard = n.try_admit(max_in_flight);
  if (guard.result() == upstream::admission::at_capacity) co_return step::at_capacity;
  if (!guard) co_return step::not_taken;
  // A queued request that got its slot passes the turn on: the next waiter may find another free one.
  if (queued_) {
    queued_ = false;
    worker_.node_slot_freed();
  }

  // The view is fetched again after every suspension (it may have been rebuilt meanwhile), and the slot
  // and the pool are taken from the same fetch.
  std::unique_ptr<upstream_connection> connection;
  {
    auto& view = worker_.view(request_.upstream);
    if (const int i = view.index_of(&n); i >= 0)
      connection = view.pool->acquire(i, upstream::clock::now(), replayable());
  }
  const bool reused = connection != nullptr;
  auto& counted = n.stats.of(worker_.id());
  if (!connection) {
    connection = co_await connect(n);
    if (!connection) {
      fail(make_error(error_kind::connect_failed, /*retry_safe=*/true));
      judge_node(n, {.next = step::failed, .request_written = false, .node_fault = true});
      co_return step::failed;
    }
    counted.connections_new.add();
  } else {
    counted.connections_reused.add();
  }
  auto result = co_await attempt(*connection);
  // A pooled connection the node had already given up on: one fresh try on the same node.
  if (result.next == step::failed && !stream_cut(request_.downstream) &&
      decide_retry(facts(result, reused, false)) == retry_action::same_node_fresh_connection) {
    spdlog::debug("{}: pooled connection to {} was dead, retrying on a fresh one", request_.request_id, n.name());
    count_retry(metrics::retry_reason::dead_pooled_connection);
    connection = co_await connect(n);
    if (!connection) {
      fail(make_error(error_kind::connect_failed, /*retry_safe=*/true));
      judge_node(n, {.next = step::failed, .request_written = false, .node_fault = true});
      co_return step::failed;
    }
    counted.connections_new.add();
    result = co_await attempt(*connection);
  }
  judge_node(n, result);
  if (result.next == step::done && result.reusable) {
    ++connection->requests;
    auto& view = worker_.view(request_.upstream);
    if (const int i = view.index_of(&n); i >= 0) view.pool->release(i, std::move(connection), upstream::clock::now());
  }
  co_return result.next;
}

template <typename Downstream>
void exchange<Downstream>::count_retry(metrics::retry_reason why) {
  worker_.view(request_.upstream).stats->retries[static_cast<std::size_t>(why)].add();
}

template <typename Downstream>
void exchange<Downstream>::finish_version_affinity() {
  // A request naming a version that a node of another version answered: counted once, whatever the tries.
  if (!named_version_.empty() && outcome_.node && outcome_.response_started) {
    if (!outcome_.node->runs_version(named_version_))
      upstream::count_version_fallback(request_.upstream.name(), named_version_);
  }
  // A stale bundle asked again of its version's node, which then failed without an answer: the first
  // node's 404 stands (as our own), not an error of the second try.
  if (stale_asset_retried_ && !outcome_.response_started && outcome_.error.kind != error_kind::stale_asset &&
      outcome_.error.kind != error_kind::client_gone)
    fail(error_kind::stale_asset);
}

template <typename Downstream>
bool exchange<Downstream>::named_version_elsewhere(const upstream::node_list& nodes,
                                                   upstream::tried_set excluded) const {
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if ((excluded & (upstream::tried_set{1} << i)) != 0 || !nodes[i]->eligible()) continue;
    if (nodes[i]->runs_version(named_version_)) return true;
  }
  return false;
}

template <typename Downstream>
bool exchange<Downstream>::another_eligible(const upstream::node_list& nodes, upstream::tried_set excluded) {
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if ((excluded & (upstream::tried_set{1} << i)) == 0 && nodes[i]->eligible()) return true;
  return false;
}

// Feeds passive ejection: connect errors, resets, timeouts, garbage and 502/503/504 answers count against
// the node; any other answer clears its run of failures. Failures on the client's side count for nothing.
template <typename Downstream>
void exchange<Downstream>::judge_node(upstream::node& n, const attempt_result& result) {
  if (stream_cut(request_.downstream)) return;  // we cut it: nothing is known of the node
  auto& group = request_.upstream;
  const bool bad_status = result.next == step::done && outcome_.status >= 502 && outcome_.status <= 504;
  if (bad_status || result.node_fault)
    group.record_failure(n, upstream::steady_now_ms());
  else if (result.next == step::done)
    upstream::upstream_group::record_success(n);
}

template <typename Downstream>
task<std::unique_ptr<upstream_connection>> exchange<Downstream>::connect(upstream::node& n) {
  auto connection = std::make_unique<upstream_connection>(request_.downstream.get_executor());
  // The node's addresses one by one, all within one connect timeout. (Asio's range connect would move
  // on to the next address when the deadline cancels an attempt, and that attempt would be untimed.)
  const auto until = io_deadline::clock::now() + request_.rt.config.timeouts.connect;
  boost::system::error_code ec = net::error::host_not_found;
  {
    const active_connection in_use(active_, connection.get());
    for (const auto& endpoint : n.endpoints()) {
      boost::system::error_code ignored;
      connection->socket.close(ignored);
      request_.deadline.arm_until(connection->socket, until);
      auto [attempt_ec] = co_await connection->socket.async_connect(endpoint, use_tuple);
      const bool timed_out = request_.deadline.disarm();
      ec = timed_out ? beast::error::timeout : attempt_ec;
      if (!ec || timed_out || stream_cut(request_.downstream)) break;
    }
  }
  const auto& group = request_.upstream;
  const char* what = "connect";
  if (!ec) {
    boost::system::error_code ignored;
    connection->socket.set_option(net::ip::tcp::no_delay(true), ignored);
    if (auto* context = group.tls_context()) {
      // The handshake shares the connect timeout: a node is usable only once TLS is up.
      what = "TLS handshake";
      const active_connection in_use(active_, connection.get());
      request_.deadline.arm_until(connection->socket, until);
      ec = co_await upstream::start_tls(*connection, *context, group.tls_server_name(n));
      if (request_.deadline.disarm()) ec = beast::error::timeout;
    } else {
      // So that the pool can tell a drained connection from one the node closed without peeking at it
      // (net/readiness.hpp, connection_pool.cpp). Plain connections only: TLS ones are always peeked.
      net_types::watch_peer_close(connection->socket);
    }
  }
  if (ec && stream_cut(request_.downstream)) co_return nullptr;
  if (ec) {
    n.count_connect_failure();
    if (const auto held_back = n.warning_due(std::chrono::steady_clock::now(), std::chrono::seconds(1)))
      spdlog::warn("{} to node {} ({}) failed: {}{}", what, n.name(), n.address(), ec.message(),
                   upstream::suppressed_note(*held_back));
    co_return nullptr;
  }
  co_return connection;
}

template <typename Downstream>
task<typename exchange<Downstream>::attempt_result> exchange<Downstream>::attempt(upstream_connection& connection) {
  const active_connection in_use(active_, &connection);
  auto sent = co_await send_request(connection);
  if (sent.next != step::done) co_return sent;
  const auto& timeouts = request_.rt.config.timeouts;
  // Room for the node's answer to arrive in large reads: Beast reads as much as the buffer has room
  // for (512 bytes when it is empty), and the pool empties it between requests. Released again when the
  // connection goes back to the pool.
  connection.buffer.reserve(node_read_size);
  std::optional<http::response_parser<http::buffer_body>> parser;
  for (;;) {
    parser.emplace();
    parser->body_limit(boost::none);  // the node's responses are streamed, never held: no limit needed
    limit_chunk_extensions(*parser);
    if (request_.head) parser->skip(true);
    request_.deadline.arm(connection.socket, timeouts.read);
    boost::system::error_code ec;
    if (connection.tls) {
      auto [read_ec, n] =
          co_await http::async_read_header(connection.tls->stream, connection.buffer, *parser, use_tuple);
      ec = read_ec;
    } else {
      ec = co_await upstream::read_response_head(connection, *parser);
    }
    if (request_.deadline.disarm()) ec = beast::error::timeout;
    if (ec == beast::error::timeout) {
      fail(error_kind::response_timeout);
      co_return attempt_result{.next = step::failed, .node_fault = true};
    }
    if (ec) {
      const bool nothing = !parser->got_some() && connection.buffer.size() == 0;
      // A TLS peer that closes without close_notify reads as stream_truncated: the same as a close.
      if (nothing && (ec == http::error::end_of_stream || ec == net::error::connection_reset || ec == net::error::eof ||
                      ec == net::ssl::error::stream_truncated)) {
        fail(make_error(error_kind::no_response, replayable()));
        co_return attempt_result{.next = step::failed, .node_fault = true};
      }
      if (stream_cut(request_.downstream)) {
        fail(error_kind::client_gone);
        co_return attempt_result{.next = step::failed};
      }
      fail(error_kind::invalid_response);
      const auto held_back = node_->warning_due(std::chrono::steady_clock::now(), std::chrono::seconds(1));
      if (held_back)
        spdlog::warn("{}: invalid response header from node {}: {}{}", request_.request_id, node_->name(), ec.message(),
                     upstream::suppressed_note(*held_back));
      co_return attempt_result{.next = step::failed, .node_fault = true};
    }
    // Interim responses (100 Continue, 103 Early Hints) are skipped: we answered Expect ourselves.
    const unsigned status = parser->get().result_int();
    if (status < 100 || status > 599) {  // Beast takes any three digits; "099" is no interim response
      fail(error_kind::invalid_response);
      spdlog::warn("{}: invalid status {} from node", request_.request_id, status);
      co_return attempt_result{.next = step::failed, .node_fault = true};
    }
    if (status >= 200 || status == 101) break;
  }
  if (affinity_) {
    // Every answer says which version the node runs: one restarted on another build without a drain is
    // known by it from its first answer on.
    const auto reported = parser->get()[affinity_->header];
    node_->learn_version(std::string_view(reported.data(), reported.size()));
    // A hashed bundle of another build is not there: a node of the version the page came from has it.
    // (Then the connection goes, with the unread 404.)
    if (stale_asset_retry_ && parser->get().result_int() == 404 && !node_->runs_version(named_version_)) {
      stale_asset_retried_ = true;
      another_node_eligible_ = true;  // a node of the named version (run() looked)
      fail(make_error(error_kind::stale_asset, /*retry_safe=*/true));
      co_return attempt_result{.next = step::failed};
    }
  }
  // A booting node (Appsmith answers 502 until it is up) or an overloaded one: another node can answer
  // a request that is safe to repeat. This connection is dropped with the unread answer.
  if (const unsigned status = parser->get().result_int(); status >= 502 && status <= 504) {
    const auto answer = make_error(error_kind::gateway_error, replayable());
    if (decide_retry({.failure = answer.kind,
                      .idempotent = request_.idempotent,
                      .has_body = request_has_body_,
                      .another_node_eligible = another_node_eligible_}) == retry_action::next_node) {
      fail(answer);
      co_return attempt_result{.next = step::failed, .node_fault = true};
    }
  }
  if (parser->get().result_int() == 101) {
    // Only a WebSocket upgrade is forwarded as one, and only a node that completed the WebSocket
    // handshake opens a tunnel: a 101 to anything else would hand the client's connection to a protocol
    // nobody checked.
    if (request_.upgrade && is_websocket_accept(parser->get())) co_return co_await tunnel(connection, *parser);
    fail(error_kind::protocol_switch,
         request_.upgrade ? "node answered the WebSocket upgrade with another protocol" : nullptr);
    co_return attempt_result{.next = step::failed, .node_fault = true};
  }
  co_return co_await relay_response(connection, *parser);
}

template <typename Downstream>
task<typename exchange<Downstream>::attempt_result> exchange<Downstream>::send_request(
    upstream_connection& connection) {
  const auto& timeouts = request_.rt.config.timeouts;
  write_request_head(request_.forwarded, request_.head_buffer);
  std::string_view head = request_.head_buffer;

  if (request_.expect_continue && request_has_body_) {
    // The client waits for our go-ahead before sending the body; give it once the node has the head.
    if (co_await upstream::with_stream(connection, [&](auto& stream) {
          return write_all(stream, net::buffer(head), request_.deadline, timeouts.send);
        })) {
      // Part of the head may have reached the node: only a request that may be replayed anyway is safe.
      fail(make_error(error_kind::no_response, replayable()));
      co_return attempt_result{.next = step::failed, .request_written = false, .node_fault = true};
    }
    head = {};
    if (co_await sink_.send_continue()) {
      fail(error_kind::client_gone);
      co_return attempt_result{.next = step::failed};
    }
  }

  const relay_limits limits{timeouts.client_body, timeouts.send, request_.rt.config.limits.min_body_rate};
  auto relayed = co_await upstream::with_stream(connection, [&](auto& node_stream) {
    body_writer writer(node_stream, request_.deadline, limits.send_timeout, request_.tls_scratch);
    writer.stage(head, request_.chunked_body);
    if constexpr (is_h2<Downstream>)
      return relay_h2_body(request_.downstream, std::move(writer), buffer_, buffer_size_, limits,
                           request_.rt.config.limits.max_body_size, outcome_.bytes_in);
    else
      return relay_body_through(request_.downstream, request_.downstream_buffer, request_.parser, std::move(writer),
                                request_.deadline, buffer_, buffer_size_, limits, outcome_.bytes_in);
  });
  if (relayed.ok()) co_return attempt_result{.next = step::done};
  if (relayed.failed == relay_result::failure::source) {
    if (relayed.ec == http::error::body_limit)
      fail(error_kind::body_too_large);
    else if (relayed.ec == beast::error::timeout)
      fail(error_kind::body_timeout);
    else if (relayed.ec == http::error::buffer_overflow || relayed.ec == http::error::bad_chunk_extension)
      fail(error_kind::malformed_body, "chunk line or trailer section too long");
    else if (relayed.ec == http::error::end_of_stream || relayed.ec == net::error::eof ||
             relayed.ec == net::error::connection_reset || relayed.ec == net::ssl::error::stream_truncated)
      fail(error_kind::client_gone, "client closed the connection during the body");
    else
      fail(error_kind::malformed_body);
    co_return attempt_result{.next = step::failed};
  }
  // The node's side failed while we wrote to it.
  if (relayed.ec == beast::error::timeout) {
    fail(error_kind::send_timeout);
    co_return attempt_result{.next = step::failed, .node_fault = true};
  }
  // No write completed does not mean no byte left: a write cut short may have sent part of the head.
  fail(make_error(error_kind::no_response, replayable()));
  co_return attempt_result{.next = step::failed, .request_written = relayed.sink_started, .node_fault = true};
}

template <typename Downstream>
task<typename exchange<Downstream>::attempt_result> exchange<Downstream>::relay_response(
    upstream_connection& connection, http::response_parser<http::buffer_body>& parser) {
  const auto& timeouts = request_.rt.config.timeouts;
  // Moved, not copied: the parser needs only its own flags for the body, not the fields.
  http::response_header<> response = std::move(parser.get().base());
  rewrite_response(response, request_.request_id);
  if (!request_.hsts.empty() && response.find(http::field::strict_transport_security) == response.end())
    response.set(http::field::strict_transport_security, request_.hsts);
  response.version(request_.client_version);

  bool keep = request_.client_keep_alive && !worker_.stopping() && request_.parser.is_done();
  const bool header_only = parser.is_done();  // HEAD, 204, 304, or an empty body (head_writer.hpp)

  std::optional<std::uint64_t> length;
  if (const auto l = parser.content_length()) length = *l;

  // The response filters, in order (proxy/response_filter.hpp): each may change the head and take the
  // body over. gzip compresses what the node did not, when its rules allow (proxy/gzip_policy.hpp).
  const auto& gzip_config = request_.rt.config.gzip;
  gzip_filter gzip(gzip_config);
  // Head only: sets the version cookie on an HTML page (proxy/version_affinity.hpp).
  version_cookie_filter version_cookie(affinity_, version_cookie_, affinity_ ? node_->version() : nullptr,
                                       secure_client(request_.downstream));
  response_filters filters;
  if (affinity_) filters.add(version_cookie);
  filters.add(gzip);
  // (The request's Accept-Encoding is looked up only when a filter could use it: a header lookup is a
  // string comparison per field, on every response.)
  filters.start(
      {.accept_encoding = gzip_config.enabled ? request_.forwarded[http::field::accept_encoding] : beast::string_view(),
       .head_request = request_.head,
       .has_body = !header_only,
       .length = length,
       .whole_body_room = buffer_size_},
      response);

  const auto framing = choose_framing({.client_version = request_.client_version,
                                       .header_only = header_only,
                                       .body_rewritten = filters.rewrites_body(),
                                       .length = length,
                                       .keep_alive = keep});
  if (framing.framing != body_framing::none)
    set_framing(response, framing.framing, framing.length);
  else
    tidy_header_only_framing(response, length);
  keep = framing.keep_alive;
  set_keep_alive(response, request_.client_version, keep);
  sink_.write_head(response, framing.framing);
  outcome_.status = response.result_int();
  outcome_.keep_downstream = keep;

  const relay_limits limits{timeouts.read, timeouts.send};
  std::uint64_t filtered_in = 0;
  auto relayed = co_await upstream::with_stream(connection, [&](auto& node_stream) {
    if (filters.whole_body())
      return relay_filtered_whole_body(node_stream, connection.buffer, parser, sink_, request_.deadline, filters,
                                       buffer_, buffer_size_, limits, outcome_.bytes_out, filtered_in,
                                       request_.filtered);
    if (filters.rewrites_body())
      return relay_filtered_body(node_stream, connection.buffer, parser, sink_, request_.deadline, filters, buffer_,
                                 buffer_size_, limits, outcome_.bytes_out, filtered_in, request_.filtered);
    return relay_body_through(node_stream, connection.buffer, parser, sink_writer{sink_}, request_.deadline, buffer_,
                              buffer_size_, limits, outcome_.bytes_out);
  });
  outcome_.response_started = relayed.sink_started;
  outcome_.response_complete = relayed.ok();
  if (gzip.compressing()) {  // compression is the only filter that changes bodies today: its counts are the chain's
    const auto coding = static_cast<std::size_t>(gzip.coding());
    worker_.stats().compressed_in[coding].add(filtered_in);
    worker_.stats().compressed_out[coding].add(outcome_.bytes_out);
  }
  if (relayed.ok()) {
    bool reusable = parser.keep_alive();
    // A node that sends a body after a HEAD, 204 or 304 answer (its bug) would have those bytes read as
    // the next request's answer: such a connection is pooled only if nothing followed the head, in the
    // buffer or on the socket (a peek, whatever epoll last said).
    if (reusable && header_only && (request_.head || outcome_.status == 204 || outcome_.status == 304))
      reusable = connection.buffer.size() == 0 && upstream::still_open(connection);
    co_return attempt_result{.next = step::done, .reusable = reusable};
  }
  outcome_.keep_downstream = false;
  if (relayed.sink_started) {
    // Cut short: the client must not take it for the whole answer, and nothing is tried again. (The
    // status stays the node's, for the access log.)
    sink_.abort();
    outcome_.error =
        make_error(relayed.failed == relay_result::failure::source ? error_kind::body_failed : error_kind::client_gone);
  }
  if (relayed.failed == relay_result::failure::source && !relayed.sink_started) {
    if (relayed.ec == beast::error::timeout)
      fail(error_kind::body_stalled);
    else
      fail(error_kind::body_failed);
  }
  if (relayed.failed == relay_result::failure::source && stream_cut(request_.downstream))
    co_return attempt_result{.next = step::failed};
  if (relayed.failed == relay_result::failure::source) {
    if (const auto held_back = node_->warning_due(std::chrono::steady_clock::now(), std::chrono::seconds(1)))
      spdlog::warn("{}: node {} failed mid-response: {}{}", request_.request_id, node_->name(), relayed.ec.message(),
                   upstream::suppressed_note(*held_back));
    co_return attempt_result{.next = step::failed, .node_fault = true};
  }
  // The client's side failed: nobody to answer, not even with an error of our own.
  if (!relayed.sink_started) fail(error_kind::client_gone);
  co_return attempt_result{.next = step::failed};
}

// The node accepted a WebSocket upgrade: its 101 goes to the client, then bytes flow both ways until either
// side ends or nothing moves for tunnel_idle. The node counts the tunnel in flight all along (the caller's
// guard), so a drain waits for it, up to the drain's deadline: then the worker has the tunnel go away
// with a close frame (see tunnel.hpp). Neither connection is reused afterwards.
template <typename Downstream>
task<typename exchange<Downstream>::attempt_result> exchange<Downstream>::tunnel(
    upstream_connection& connection, http::response_parser<http::buffer_body>& parser) {
  if constexpr (is_h2<Downstream>) {
    // Unreachable (an HTTP/2 request is never forwarded as an upgrade), and no tunnel over a stream.
    fail(error_kind::protocol_switch);
    co_return attempt_result{.next = step::failed, .node_fault = true};
  } else {
    const auto& timeouts = request_.rt.config.timeouts;
    http::response_header<> response = std::move(parser.get().base());
    const std::string protocol(response[http::field::upgrade]);
    rewrite_response(response, request_.request_id);
    response.set(http::field::connection, "upgrade");
    response.set(http::field::upgrade, protocol);
    response.version(11);
    tidy_header_only_framing(response, std::nullopt);  // a 101 has no framing fields (RFC 9110 8.6)
    sink_.write_head(response, body_framing::none);
    outcome_.status = 101;
    outcome_.keep_downstream = false;
    // Bytes the node sent right after its 101 travel with it (and count as frames already passed on); they
    // stay in the connection's buffer, unconsumed, until the tunnel ends.
    const auto early = connection.buffer.data();
    if (co_await send_to(sink_, early, /*last=*/false)) {
      fail(error_kind::client_gone);
      co_return attempt_result{.next = step::failed};
    }
    outcome_.response_started = true;
    // From here on the connection speaks WebSocket: the tunnel has the client's stream itself (the sink is
    // not used again; an upgrade is an HTTP/1.1 connection's alone).
    auto& client = request_.downstream;
    // Bytes the client sent right after its request go to the node first.
    if (const auto pending = request_.downstream_buffer.data(); pending.size() != 0) {
      if (co_await upstream::with_stream(connection, [&](auto& node) {
            return write_all(node, net::buffer(pending), request_.deadline, timeouts.send);
          }))
        co_return attempt_result{.next = step::done};
      request_.downstream_buffer.consume(pending.size());
    }
    const auto totals = co_await upstream::with_stream(connection, [&](auto& node) {
      return run_tunnel(worker_, client, node, buffer_, buffer_size_, timeouts.tunnel_idle, *node_, request_.owner,
                        std::string_view(static_cast<const char*>(early.data()), early.size()));
    });
    connection.buffer.consume(early.size());
    outcome_.bytes_in += totals.to_node;
    outcome_.bytes_out += totals.to_client;
    // The client's connection then closes gracefully (close_notify on TLS, then a brief drain): the client
    // may be closing its side at the same moment, and a reset would cut that short.
    outcome_.response_complete = true;
    co_return attempt_result{.next = step::done};  // not reusable: the connection spoke another protocol
  }
}

// The kinds of client connection: HTTP/1.1 on a plain socket or TLS, and an HTTP/2 stream.
template class exchange<net_types::socket>;
template class exchange<tls::tls_socket>;
template class exchange<h2_stream>;

}  // namespace drawbridge::proxy
