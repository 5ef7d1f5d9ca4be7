#include "proxy/request_decision.hpp"

#include "proxy/access_log.hpp"
#include "proxy/head_writer.hpp"
#include "proxy/request_validator.hpp"
#include "proxy/route_table.hpp"
#include "proxy/runtime.hpp"
#include "tls/acme_challenges.hpp"

namespace drawbridge::proxy {

namespace {

bool orders_by_http01(const conf::config& config) {
  return std::any_of(config.listeners.begin(), config.listeners.end(), [](const conf::listener_config& l) {
    return l.tls && l.tls->acme && l.tls->acme->challenge == "http-01";
  });
}

}  // namespace

request_decision decide_request(const runtime& rt, const conf::listener_config& listener, request_parser& parser,
                                access_record& record) {
  const auto& config = rt.config;
  auto& req = parser.get();
  std::string_view authority, rest;
  if (split_absolute_target(req.target(), authority, rest)) {
    std::string target;
    if (rest.front() == '?') target += '/';
    target += rest;
    const std::string host(authority);  // a copy: the target it views is replaced first
    req.target(target);
    req.set(http::field::host, host);
    record.path = req.target();
  }
  // ACME's HTTP-01 challenges: ours are answered here, before routing and redirects (on any listener:
  // the CA may follow a redirect to HTTPS). Without ACME of our own they are not redirected either: a
  // certificate tool behind us must be able to answer them over plain HTTP (they are routed as usual).
  const bool challenge = is_acme_challenge(req.target());
  if (challenge) {
    const auto token = req.target().substr(acme_challenge_prefix.size());
    if (auto answer = tls::acme_challenges::instance().http_answer({token.data(), token.size()}))
      return {.what = request_decision::action::acme_answer, .body = std::move(*answer)};
    if (orders_by_http01(config)) return {.what = request_decision::action::no_route};
  }
  if (listener.redirect_https && !challenge) {
    const auto to_host = normalize_host(req[http::field::host]);
    if (to_host.empty())
      return {.what = request_decision::action::refuse,
              .error = make_error(error_kind::malformed_request, false, "no Host to redirect to")};
    std::string location = "https://";
    location.append(to_host).append(req.target());
    return {.what = request_decision::action::redirect, .location = std::move(location)};
  }
  const auto* route = rt.routes.match(normalize_host(req[http::field::host]), req.target());
  if (!route) return {.what = request_decision::action::no_route};
  if (const auto length = parser.content_length(); length && *length > config.limits.max_body_size)
    return {.what = request_decision::action::refuse, .error = make_error(error_kind::body_too_large)};
  parser.body_limit(config.limits.max_body_size);
  return {.what = request_decision::action::forward, .upstream = route->upstream};
}

void frame_for_node(upstream_request& forwarded, const request_parser& parser) {
  if (const auto length = parser.content_length())
    set_framing(forwarded, body_framing::length, *length);
  else
    set_framing(forwarded, parser.chunked() ? body_framing::chunked : body_framing::none, 0);
  set_keep_alive(forwarded, 11, true);
}

void record_outcome(access_record& record, const exchange_outcome& out) {
  record.bytes_in = out.bytes_in;
  record.bytes_out = out.bytes_out;
  record.node = out.node ? std::string_view(out.node->name()) : std::string_view();
  record.upstream_ms = out.upstream_ms;
  record.status = out.status;
}

bool is_idempotent(boost::beast::http::verb method) {
  using boost::beast::http::verb;
  switch (method) {
    case verb::get:
    case verb::head:
    case verb::options:
    case verb::trace:
    case verb::put:
    case verb::delete_:
      return true;
    default:
      return false;
  }
}

std::string error_json(const proxy_error& error) {
  std::string body = "{\"error\":{\"code\":\"";
  body += code_of(error);
  body += "\",\"message\":\"";
  append_json_escaped(body, reason_of(error));
  body += "\"}}\n";
  return body;
}

}  // namespace drawbridge::proxy
