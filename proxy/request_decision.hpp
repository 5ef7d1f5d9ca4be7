#pragma once
// What to do with a request whose header is valid, whatever protocol brought it (an HTTP/1.1 session, an
// HTTP/2 stream): refuse it, redirect it, answer 404, or forward it to an upstream. Plain functions: no
// I/O.

#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <string>

#include "conf/config.hpp"
#include "proxy/exchange.hpp"
#include "proxy/proxy_error.hpp"

namespace drawbridge::proxy {

struct access_record;
struct runtime;

struct request_decision {
  enum class action { refuse, redirect, acme_answer, no_route, forward } what = action::forward;
  proxy_error error{};                           // refuse
  std::string location{};                        // redirect
  std::string body{};                            // acme_answer: the key authorization
  upstream::upstream_group* upstream = nullptr;  // forward (owned by the runtime)
};

// Absolute-form targets are routed by their authority and forwarded in origin-form (the target names
// which of our routes to use, never a host for us to contact); an ACME HTTP-01 challenge this process is
// being validated for is answered (any other under /.well-known/acme-challenge/ is 404 when this
// process orders by HTTP-01: no node answers for our orders); a plain listener that only redirects does
// so; then the route, and the body's size limit (set on `parser` for the body to come).
request_decision decide_request(const runtime& rt, const conf::listener_config& listener, request_parser& parser,
                                access_record& record);

// Methods a node may be asked again after a failure (RFC 9110 §9.2.2).
bool is_idempotent(boost::beast::http::verb method);

// The node's copy of a request header, once moved out of `parser`: framed as the client framed its body
// (a length, chunked, or none) and kept alive (the pool reuses node connections).
void frame_for_node(upstream_request& forwarded, const request_parser& parser);

// What the exchange did, into the request's access-log record.
void record_outcome(access_record& record, const exchange_outcome& out);

// drawbridge's own error answer's body: {"error":{"code":..,"message":..}}.
std::string error_json(const proxy_error& error);

inline double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace drawbridge::proxy
