#include "admin/admin_api.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "admin/metrics_page.hpp"
#include "admin/node_json.hpp"
#include "metrics/exposition.hpp"
#include "conf/units.hpp"

namespace drawbridge::admin {

using json = nlohmann::ordered_json;
using net_types::task;
using upstream::node;
using upstream::upstream_group;

namespace {

// Longest `wait` accepted: a day covers any drain or boot; more is a typo.
constexpr std::chrono::milliseconds max_wait = std::chrono::hours(24);

response json_response(unsigned status, const json& body) {
  response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  // Names come from the request's path; invalid UTF-8 there is replaced rather than thrown over.
  res.body() = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return res;
}

response error_response(unsigned status, const std::string& code, const std::string& message) {
  return json_response(status, json{{"error", {{"code", code}, {"message", message}}}});
}

// 405 with Allow when `method` is not the one this endpoint takes.
std::optional<response> refuse_method(http::verb method, http::verb allowed, const char* allow) {
  if (method == allowed) return std::nullopt;
  auto res = error_response(405, "method_not_allowed", "use " + std::string(allow) + " here");
  res.set(http::field::allow, allow);
  return res;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const auto end = path.find('/');
    parts.emplace_back(path.substr(0, end));
    path = end == std::string_view::npos ? std::string_view() : path.substr(end);
  }
  return parts;
}

std::optional<std::string> query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const auto end = query.find('&');
    const auto pair = query.substr(0, end);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) return std::string(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    query = end == std::string_view::npos ? std::string_view() : query.substr(end + 1);
  }
  return std::nullopt;
}

}  // namespace

struct admin_api::call {
  call(const request& r, const std::string& peer, std::vector<std::string> parts, std::string q)
      : req(r), client(peer), path(std::move(parts)), query(std::move(q)) {}
  const request& req;
  const std::string& client;
  std::vector<std::string> path;
  std::string query;
  std::string token = "-";
  std::string action;  // for the audit log; empty for reads
  std::string upstream;
  std::string node;
  std::optional<std::chrono::milliseconds> wait;
  bool force = false;
  std::int64_t tunnels_closed = 0;  // WebSocket tunnels told to go away when the wait ran out
};

task<response> admin_api::handle(const request& req, const std::string& client) {
  const auto started = std::chrono::steady_clock::now();
  const std::string_view target = req.target();
  const auto question = target.find('?');
  call c{req, client, split_path(target.substr(0, question)),
         question == std::string_view::npos ? std::string() : std::string(target.substr(question + 1))};
  response res = co_await route(c);
  if (!c.action.empty()) {
    // The audit line: who asked for what, and what came of it ("ok" or the error code).
    std::string result = "ok";
    if (res.result_int() >= 300) {
      const auto body = json::parse(res.body(), nullptr, false);
      result = body.is_object() && body.contains("error") ? body["error"].value("code", "error") : "error";
    }
    json audit{{"audit", {{"client", client},
                          {"token", c.token},
                          {"action", c.action},
                          {"upstream", c.upstream},
                          {"node", c.node},
                          {"status", res.result_int()},
                          {"result", result},
                          {"duration_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::steady_clock::now() - started)
                                              .count()}}}};
    // Counted for /metrics under a known action name only: the path is the caller's, the label set is ours.
    static constexpr std::string_view known[] = {"drain", "undrain", "add", "remove", "tls_reload"};
    const bool is_known = std::find(std::begin(known), std::end(known), c.action) != std::end(known);
    ++actions_[{is_known ? c.action : std::string("unknown"), result}];
    if (c.wait) audit["audit"]["wait"] = conf::format_duration(*c.wait);
    if (c.force) audit["audit"]["force"] = true;
    if (c.tunnels_closed) audit["audit"]["tunnels_closed"] = c.tunnels_closed;
    spdlog::info("{}", audit.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  co_return res;
}

// Everything under /v1/ is the operator's: with a token file, a valid bearer token (its name goes into
// the audit line), else 401.
std::optional<response> admin_api::authorize(call& c) const {
  if (control_.tokens().empty()) return std::nullopt;
  const auto name = control_.tokens().check(c.req[http::field::authorization]);
  if (!name) {
    auto res = error_response(401, "unauthorized", "this call needs Authorization: Bearer <token>");
    res.set(http::field::www_authenticate, "Bearer");
    return res;
  }
  c.token = *name;
  return std::nullopt;
}

task<response> admin_api::route(call& c) {
  const auto& p = c.path;
  const auto method = c.req.method();
  auto only = [&](http::verb allowed, const char* allow) { return refuse_method(method, allowed, allow); };
  if (p.size() == 1 && p[0] == "healthz") {
    if (auto refused = only(http::verb::get, "GET")) co_return *refused;
    co_return json_response(200, json{{"status", "UP"}});
  }
  if (p.size() == 1 && p[0] == "readyz") {
    if (auto refused = only(http::verb::get, "GET")) co_return *refused;
    json waiting = json::array();
    for (const auto& g : control_.rt().upstreams)
      if (g->eligible_count(nullptr) == 0) waiting.push_back(g->name());
    if (waiting.empty()) co_return json_response(200, json{{"status", "READY"}});
    co_return json_response(503, json{{"status", "NOT_READY"}, {"upstreams_without_eligible_node", waiting}});
  }
  if (p.size() == 1 && p[0] == "metrics") {
    if (control_.rt().config.admin.metrics_auth)
      if (auto refused = authorize(c)) co_return *refused;
    if (auto refused = only(http::verb::get, "GET")) co_return *refused;
    response res{http::status::ok, 11};
    res.set(http::field::content_type, metrics::exposition_content_type);
    res.set(http::field::cache_control, "no-store");
    res.body() = render_metrics(control_.rt(), actions_);
    co_return res;
  }
  if (p.size() == 3 && p[0] == "v1" && p[1] == "tls" && p[2] == "reload") co_return co_await reload_tls(c);
  if (p.empty() || p[0] != "v1" || p.size() < 2 || p[1] != "upstreams")
    co_return error_response(404, "not_found", "no such endpoint");

  const bool is_action = method != http::verb::get && method != http::verb::head;
  if (p.size() >= 3) c.upstream = p[2];
  if (p.size() >= 5) c.node = p[4];
  if (is_action) c.action = p.size() == 6 ? p[5] : method == http::verb::delete_ ? "remove" : "add";
  if (auto refused = authorize(c)) co_return *refused;
  if (const auto wait = query_param(c.query, "wait")) {
    const auto parsed = conf::parse_duration(*wait);
    if (!parsed || *parsed > max_wait)
      co_return error_response(400, "bad_request", "wait: expected a duration such as \"30s\" or \"5m\" (at most 24h), got \"" + *wait + "\"");
    c.wait = *parsed;
  }
  if (const auto force = query_param(c.query, "force")) {
    if (*force != "true" && *force != "false")
      co_return error_response(400, "bad_request", "force: expected true or false, got \"" + *force + "\"");
    c.force = *force == "true";
  }

  if (p.size() == 2) {
    if (auto refused = only(http::verb::get, "GET")) co_return *refused;
    json list = json::array();
    for (const auto& g : control_.rt().upstreams) list.push_back(upstream_json(*g, control_.checker()));
    co_return json_response(200, json{{"upstreams", list}});
  }
  const auto group = control_.find_upstream(p[2]);
  if (!group) co_return error_response(404, "not_found", "no upstream named \"" + p[2] + "\"");
  if (p.size() == 3) {
    if (auto refused = only(http::verb::get, "GET")) co_return *refused;
    co_return json_response(200, upstream_json(*group, control_.checker()));
  }
  if (p[3] != "nodes" || p.size() > 6) co_return error_response(404, "not_found", "no such endpoint");
  if (p.size() == 4) {
    if (method == http::verb::post) co_return co_await add_node(c, group);
    if (auto refused = only(http::verb::get, "GET, POST")) co_return *refused;
    co_return json_response(200, upstream_json(*group, control_.checker())["nodes"]);
  }
  const auto n = group->find(p[4]);
  if (!n) co_return error_response(404, "not_found", "upstream " + group->name() + " has no node \"" + p[4] + "\"");
  if (p.size() == 5) {
    if (method == http::verb::delete_) co_return co_await remove_node(c, group, n);
    if (auto refused = only(http::verb::get, "GET, DELETE")) co_return *refused;
    co_return json_response(200, node_json(*group, *n, control_.checker()));
  }
  if (p[5] != "drain" && p[5] != "undrain") co_return error_response(404, "not_found", "no such endpoint");
  if (auto refused = only(http::verb::post, "POST")) co_return *refused;
  co_return co_await node_action(c, group, n, p[5]);
}

task<response> admin_api::node_action(call& c, const std::shared_ptr<upstream_group>& group,
                                      const std::shared_ptr<node>& n, const std::string& action) {
  if (action == "drain") {
    if (auto refused = control_.drain(*group, *n, c.force))
      co_return error_response(refused->status, refused->code, refused->message);
    if (!c.wait) co_return json_response(202, node_json(*group, *n, control_.checker()));
    const bool drained = co_await wait_out_drain(c, group, n, /*removal=*/false);
    if (drained && n->admin.load() == upstream::admin_state::drained)
      co_return json_response(200, node_json(*group, *n, control_.checker()));
    if (drained) co_return error_response(409, "undrained", "node " + n->name() + " was undrained during the wait");
    co_return error_response(504, "timeout",
                             "node " + n->name() + " still has " + std::to_string(n->in_flight.load()) +
                                 " request(s) in flight after " + conf::format_duration(*c.wait) +
                                 "; it stays draining");
  }
  control_.undrain(*group, *n);
  if (!c.wait) co_return json_response(202, node_json(*group, *n, control_.checker()));
  const bool settled = co_await wait_until(
      [&] { return n->eligible() || n->admin.load() != upstream::admin_state::ready; }, *c.wait);
  if (settled && n->eligible()) co_return json_response(200, node_json(*group, *n, control_.checker()));
  if (settled) co_return error_response(409, "drained", "node " + n->name() + " was drained during the wait");
  auto res = error_response(504, "timeout",
                            "node " + n->name() + " is not healthy after " + conf::format_duration(*c.wait) +
                                "; it stays out of rotation until its health checks pass");
  co_return res;
}

task<response> admin_api::add_node(call& c, const std::shared_ptr<upstream_group>& group) {
  const auto body = json::parse(c.req.body(), nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("name") || !body["name"].is_string() || !body.contains("address") ||
      !body["address"].is_string())
    co_return error_response(400, "bad_request", R"(expected a JSON object {"name": "...", "address": "host:port", "weight": 1})");
  std::uint32_t weight = 1;
  if (body.contains("weight")) {
    if (!body["weight"].is_number_unsigned())
      co_return error_response(400, "bad_request", "weight must be an integer from 1 to 1000");
    weight = static_cast<std::uint32_t>(std::min<std::uint64_t>(body["weight"].get<std::uint64_t>(), 100000));
  }
  c.node = body["name"].get<std::string>();
  auto added = control_.add_node(group, c.node, body["address"].get<std::string>(), weight);
  if (auto* refused = std::get_if<refusal>(&added))
    co_return error_response(refused->status, refused->code, refused->message);
  co_return json_response(201, node_json(*group, *std::get<std::shared_ptr<node>>(added), control_.checker()));
}

task<response> admin_api::remove_node(call& c, const std::shared_ptr<upstream_group>& group,
                                      const std::shared_ptr<node>& n) {
  if (auto refused = control_.remove_node(*group, n, c.force))
    co_return error_response(refused->status, refused->code, refused->message);
  if (n->removed.load()) co_return json_response(200, json{{"removed", n->name()}});
  if (!c.wait) co_return json_response(202, node_json(*group, *n, control_.checker()));
  const bool gone = co_await wait_out_drain(c, group, n, /*removal=*/true);
  if (gone && n->removed.load()) co_return json_response(200, json{{"removed", n->name()}});
  if (gone) co_return error_response(409, "undrained", "node " + n->name() + " was undrained during the wait");
  co_return error_response(504, "timeout",
                           "node " + n->name() + " still has " + std::to_string(n->in_flight.load()) +
                               " request(s) in flight after " + conf::format_duration(*c.wait) +
                               "; it stays draining and is removed once they finish");
}

// Re-reads every HTTPS listener's certificate files. New handshakes use the new certificates; open
// connections go on with theirs. A listener whose files fail keeps its current certificates.
task<response> admin_api::reload_tls(call& c) {
  c.action = "tls_reload";
  if (auto refused = authorize(c)) co_return *refused;
  if (auto refused = refuse_method(c.req.method(), http::verb::post, "POST")) co_return *refused;
  const auto errors = proxy::load_certificates(control_.rt().listeners);
  if (!errors.empty()) {
    std::string message;
    for (const auto& e : errors) message += (message.empty() ? "" : "; ") + e;
    spdlog::error("certificate reload failed, the previous certificates stay in use: {}", message);
    co_return error_response(500, "reload_failed",
                             message + " (the listeners named keep their previous certificates; any other HTTPS "
                                       "listener was reloaded)");
  }
  json listeners = json::array();
  for (std::size_t i = 0; i < control_.rt().listeners.size(); ++i) {
    const auto& l = *control_.rt().listeners[i];
    if (!l.tls()) continue;
    json certs = json::array();
    for (const auto& cert : l.current_contexts()->certificates())
      certs.push_back({{"cert", cert.cert_path},
                       {"subject", cert.subject},
                       {"names", cert.names},
                       {"not_after", format_utc(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    cert.not_after.time_since_epoch())
                                                    .count())}});
    listeners.push_back({{"listener", i}, {"certificates", certs}});
  }
  spdlog::info("certificates reloaded");
  co_return json_response(200, json{{"reloaded", listeners}});
}

// A drain lets the node's requests and WebSocket tunnels run until its `wait` runs out. Then the tunnels
// go away (control_plane::close_tunnels) and the wait extends by the little time that takes, so that a
// node held only by tunnels ends drained, not timed out.
task<bool> admin_api::wait_out_drain(call& c, std::shared_ptr<upstream::upstream_group> group,
                                     std::shared_ptr<node> n, bool removal) {
  auto settled = [this, n, removal] {
    if (removal) return n->removed.load() || !control_.removal_pending(*n);
    return n->admin.load() != upstream::admin_state::draining;
  };
  bool done = co_await wait_until(settled, *c.wait);
  if (!done && !control_.stopping()) {
    c.tunnels_closed = control_.close_tunnels(*group, *n);
    // Raised again while tunnels remain: an upgrade under way at the deadline opens its tunnel under the
    // raised value, and only a later one tells it to go.
    auto settled_or_raise = [settled, n] {
      if (settled()) return true;
      if (n->tunnels.load(std::memory_order_relaxed) > 0) n->tunnel_close_epoch.fetch_add(1, std::memory_order_relaxed);
      return false;
    };
    if (c.tunnels_closed > 0) done = co_await wait_until(settled_or_raise, upstream::tunnel_close_limit + std::chrono::seconds(1));
  }
  co_return done;
}

task<bool> admin_api::wait_until(std::function<bool()> done, std::chrono::milliseconds limit) {
  net_types::timer timer(control_.io().get_executor());
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline || control_.stopping()) co_return false;
    timer.expires_after(std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(20), deadline - now));
    co_await timer.async_wait(net_types::use_tuple);
  }
  co_return true;
}

}  // namespace drawbridge::admin
