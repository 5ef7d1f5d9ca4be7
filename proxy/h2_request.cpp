#include "proxy/h2_request.hpp"

#include <spdlog/spdlog.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>

#include "proxy/access_log.hpp"
#include "proxy/exchange.hpp"
#include "proxy/field_text.hpp"
#include "proxy/h2_stream.hpp"
#include "proxy/head_writer.hpp"
#include "proxy/header_rewrite.hpp"
#include "proxy/listener.hpp"
#include "proxy/request_decision.hpp"
#include "proxy/request_id.hpp"
#include "proxy/request_validator.hpp"
#include "proxy/runtime.hpp"
#include "proxy/worker.hpp"

namespace drawbridge::proxy {

namespace {

// drawbridge's own answer (an error, a redirect, an ACME challenge's) on the stream.
task<void> reply(h2_stream& stream, const h2_origin& origin, unsigned status, std::string_view request_id,
                 std::string_view content_type, std::string_view location, const std::string& body) {
  http::response_header<> head;
  head.result(status);
  head.set(http::field::content_type, content_type);
  head.set("X-Request-Id", request_id);
  if (!location.empty()) head.set(http::field::location, location);
  if (origin.tls && origin.l->config.tls && !origin.l->config.tls->hsts.empty())
    head.set(http::field::strict_transport_security, origin.l->config.tls->hsts);
  head.set(http::field::content_length, std::to_string(body.size()));
  stream.write_head(head, body_framing::length);
  co_await send_to(stream, net::buffer(body), /*last=*/true);
}

task<void> reply_error(h2_stream& stream, const h2_origin& origin, const proxy_error& error,
                       std::string_view request_id) {
  co_await reply(stream, origin, status_of(error), request_id, "application/json", {}, error_json(error));
}

}  // namespace

task<void> serve_h2_stream(worker& w, h2_origin origin, std::shared_ptr<h2_stream> stream) {
  const auto started = std::chrono::steady_clock::now();
  const runtime& rt = *origin.rt;
  access_record record;
  record.time = std::chrono::system_clock::now();
  record.client = origin.client_ip;
  record.protocol = "HTTP/2";
  std::string id = w.ids().next();
  record.request_id = id;
  const auto finish = [&](const upstream::upstream_group* group, const upstream::node* n) {
    record.duration_ms = ms_since(started);
    rt.log->write(record);
    w.count_request(record, group, n);
  };
  const auto refuse = [&](const proxy_error& error) -> task<void> {
    record.status = status_of(error);
    co_await reply_error(*stream, origin, error, id);
    if (const auto label = describe(error.kind).rejected) w.stats().rejected[static_cast<std::size_t>(*label)].add();
    finish(nullptr, nullptr);
  };

  if (stream->header_too_large()) co_return co_await refuse(make_error(error_kind::header_too_large));
  // The request as the HTTP/1.1 header the node will get, through the same parser and checks as one from
  // an HTTP/1.1 client.
  const std::string head = stream->http1_head();
  request_parser parser;
  parser.header_limit(static_cast<std::uint32_t>(head.size() + 1));
  parser.body_limit(boost::none);
  boost::system::error_code ec;
  bool field_too_large = false;
  try {
    if (!head.empty()) parser.put(net::buffer(head), ec);
  } catch (const std::length_error&) {
    field_too_large = true;  // one field past Beast's own limit (65,533 bytes): joined cookie crumbs can make one
  }
  if (field_too_large)
    co_return co_await refuse(make_error(error_kind::header_too_large, false, "request header field too large"));
  if (head.empty() || ec || !parser.is_header_done()) {
    spdlog::debug("{}: malformed HTTP/2 request from {}: {}", id, origin.client_ip,
                  head.empty() ? "pseudo-header fields" : ec.message());
    co_return co_await refuse(make_error(error_kind::malformed_request));
  }
  auto& req = parser.get();
  record.method = req.method_string();
  record.path = req.target();
  if (const auto v = check_request_header(req); !v.ok()) co_return co_await refuse(refusal(v.status, v.reason));
  if (const auto named = req["X-Request-Id"]; is_valid_uuid(named)) {
    id.assign(named.data(), named.size());
    record.request_id = id;
  }

  const auto next = decide_request(rt, origin.l->config, parser, record);
  switch (next.what) {
    case request_decision::action::refuse:
      co_return co_await refuse(next.error);
    case request_decision::action::redirect:
      record.status = 308;
      co_await reply(*stream, origin, 308, id, "text/plain", next.location, "Moved to " + next.location + "\n");
      finish(nullptr, nullptr);
      co_return;
    case request_decision::action::acme_answer:
      record.status = 200;
      co_await reply(*stream, origin, 200, id, "text/plain", {}, next.body);
      finish(nullptr, nullptr);
      co_return;
    case request_decision::action::no_route: {
      const auto no_route = make_error(error_kind::no_route);
      record.status = status_of(no_route);
      co_await reply_error(*stream, origin, no_route, id);
      finish(nullptr, nullptr);
      co_return;
    }
    case request_decision::action::forward:
      break;
  }
  auto& group = *next.upstream;
  record.upstream = group.name();

  upstream_request forwarded;
  std::string head_buffer, tls_scratch, filtered;
  beast::flat_buffer unused;  // an HTTP/2 request's body comes from its stream, not from a byte buffer
  exchange_request<h2_stream> request{
      .downstream = *stream,
      .sink = *stream,
      .deadline = stream->deadline(),
      .downstream_buffer = unused,
      .parser = parser,
      .forwarded = forwarded,
      .head_buffer = head_buffer,
      .tls_scratch = tls_scratch,
      .filtered = filtered,
      .rt = rt,
      .upstream = group,
      .request_id = id,
      .client_version = 11,
      .client_keep_alive = true,
      .head = req.method() == http::verb::head,
      .idempotent = is_idempotent(req.method()),
      .expect_continue = iequals_ascii(req[http::field::expect], "100-continue"),
      .chunked_body = parser.chunked(),
      .hsts = origin.tls && origin.l->config.tls ? std::string_view(origin.l->config.tls->hsts) : std::string_view()};
  forwarded = std::move(req.base());
  forwarded.version(11);
  forwarded.erase(http::field::expect);
  rewrite_request(forwarded, forwarding{origin.client_ip, origin.tls ? "https" : "http", id, origin.peer_trusted});
  frame_for_node(forwarded, parser);
  record.method = forwarded.method_string();
  record.path = forwarded.target();

  auto relay_buffer = w.take_relay_buffer();
  exchange<h2_stream> ex(w, request, stream->upstream_slot(), relay_buffer.get(), worker::relay_buffer_size);
  const exchange_outcome out = co_await ex.run();
  w.give_relay_buffer(std::move(relay_buffer));

  record_outcome(record, out);
  if (!out.response_started && answered(out.error) && !stream->closed()) {
    co_await reply_error(*stream, origin, out.error, id);
    if (out.status >= 500) {
      const auto now = std::chrono::steady_clock::now();
      const auto held_back = out.node ? out.node->warning_due(now, std::chrono::seconds(1))
                                      : group.warning_due(now, std::chrono::seconds(1));
      if (held_back)
        spdlog::warn("{}: {} {}: {}{}", id, out.status, loggable_path(record.path, rt.config.access_log.query),
                     reason_of(out.error), upstream::suppressed_note(*held_back));
    }
  }
  finish(&group, out.node.get());
}

}  // namespace drawbridge::proxy
