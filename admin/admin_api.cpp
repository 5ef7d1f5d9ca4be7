#include "admin/admin_api.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "admin/metrics_page.hpp"
#include "admin/node_json.hpp"
#include "admin/request_guard.hpp"
#include "conf/units.hpp"
#include "metrics/exposition.hpp"

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

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "%XX" becomes its byte; a '%' not followed by two hex digits stays as it is.
std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const auto end = path.find('/');
    parts.push_back(percent_decode(path.substr(0, end)));
    path = end == std::string_view::npos ? std::string_view() : path.substr(end);
  }
  return parts;
}

std::vector<std::string> path_of(std::string_view target) { return split_path(target.substr(0, target.find('?'))); }

// The audit log's name for a call that changes something (or tries to): the last segment of a node action
// (the caller's text: a metric label only through action_label), "add", "remove" or "tls_reload". Empty
// for reads and for paths outside the API.
std::string action_of(http::verb method, const std::vector<std::string>& p) {
  if (p.size() == 3 && p[0] == "v1" && p[1] == "tls" && p[2] == "reload") return "tls_reload";
  if (p.size() == 3 && p[0] == "v1" && p[1] == "tls" && p[2] == "renew") return "tls_renew";
  if (p.size() == 3 && p[0] == "v1" && p[1] == "config" && p[2] == "reload") return "config_reload";
  if (p.size() == 2 && p[0] == "v1" && p[1] == "upgrade") return "upgrade";
  if (p.size() < 2 || p[0] != "v1" || p[1] != "upstreams") return "";
  if (method == http::verb::get || method == http::verb::head) return "";
  return p.size() == 6 ? p[5] : method == http::verb::delete_ ? "remove" : "add";
}

// An action name fit for a metric label: one of ours, or "unknown".
std::string action_label(const std::string& action) {
  static constexpr std::string_view known[] = {"drain",      "undrain",       "add",     "remove",
                                               "tls_reload", "config_reload", "upgrade", "tls_renew"};
  return std::find(std::begin(known), std::end(known), action) != std::end(known) ? action : "unknown";
}

std::optional<std::string> query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const auto end = query.find('&');
    const auto pair = query.substr(0, end);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) return percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
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

admission admin_api::admit(const request_head& head, const std::string& client) {
  const auto p = path_of(head.target());
  const bool metrics = p.size() == 1 && p[0] == "metrics";
  const bool v1 = !p.empty() && p[0] == "v1";
  const auto listener = control_.admin_endpoint();
  admission decided;
  // Only a loopback listener needs the Host check: DNS rebinding is how a web page reaches it under a name
  // of its own. Elsewhere a token is required (a config rule), a page cannot send one, and operators
  // legitimately call the API by a DNS name. /metrics is left out: Prometheus scrapes under whatever name
  // its target has (a service name, a DNS name), and admin.metrics_auth is what protects it.
  if (!metrics && listener && listener->address().is_loopback() &&
      (head.count(http::field::host) != 1 || !names_the_listener(head[http::field::host], *listener))) {
    decided.refused = error_response(421, "misdirected_request",
                                     "Host must name this admin listener (" + listener->address().to_string() + ":" +
                                         std::to_string(listener->port()) + " or localhost)");
  } else if (v1 && sent_by_a_web_page(head)) {
    decided.refused = error_response(403, "cross_origin",
                                     "the admin API takes no requests from web pages (Origin or Sec-Fetch-Site)");
  } else if ((v1 || (metrics && control_.rt().config.admin.metrics_auth)) && !control_.tokens().empty()) {
    // A valid bearer token; its name goes into the audit line.
    if (const auto name = control_.tokens().check(head[http::field::authorization])) {
      decided.caller = *name;
    } else {
      decided.refused = error_response(401, "unauthorized", "this call needs Authorization: Bearer <token>");
      decided.refused->set(http::field::www_authenticate, "Bearer");
    }
  }
  if (decided.refused) {
    const auto code = json::parse(decided.refused->body())["error"]["code"].get<std::string>();
    // No path and no names: they are the words of a caller nobody vouches for.
    spdlog::warn("admin: refused a {} from {}: {} {}", std::string(http::to_string(head.method())), client,
                 decided.refused->result_int(), code);
    if (const auto action = action_of(head.method(), p); !action.empty()) ++actions_[{action_label(action), code}];
  }
  return decided;
}

task<response> admin_api::handle(const request& req, const std::string& client, const std::string& caller) {
  const auto started = std::chrono::steady_clock::now();
  const std::string_view target = req.target();
  const auto question = target.find('?');
  call c{req, client, path_of(target),
         question == std::string_view::npos ? std::string() : std::string(target.substr(question + 1))};
  c.token = caller;
  c.action = action_of(req.method(), c.path);
  response res = co_await route(c);
  if (!c.action.empty()) {
    // The audit line (only for admitted calls): who asked for what, and what came of it ("ok" or the
    // error code).
    std::string result = "ok";
    if (res.result_int() >= 300) {
      const auto body = json::parse(res.body(), nullptr, false);
      result = body.is_object() && body.contains("error") ? body["error"].value("code", "error") : "error";
    }
    json audit{{"audit",
                {{"client", client},
                 {"token", c.token},
                 {"action", c.action},
                 {"upstream", c.upstream},
                 {"node", c.node},
                 {"status", res.result_int()},
                 {"result", result},
                 {"duration_ms",
                  std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                      .count()}}}};
    // Counted for /metrics under a known action name only: the path is the caller's, the label set is ours.
    ++actions_[{action_label(c.action), result}];
    if (c.wait) audit["audit"]["wait"] = conf::format_duration(*c.wait);
    if (c.force) audit["audit"]["force"] = true;
    if (c.tunnels_closed) audit["audit"]["tunnels_closed"] = c.tunnels_closed;
    spdlog::info("{}", audit.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  co_return res;
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
    // Redis down does not make a replica unready: it serves on with the last shared state it had. But one
    // that never read that state (started while Redis was down, without a state file) would route to
    // nodes the others keep out: not ready until it has.
    const bool known = control_.state_known();
    json body{{"status", waiting.empty() && known ? "READY" : "NOT_READY"}};
    if (!waiting.empty()) body["upstreams_without_eligible_node"] = waiting;
    if (const auto* link = control_.cluster())
      body["cluster"] = !known ? "loading" : link->connected() ? "connected" : "unavailable";
    // Serving, but with a self-signed certificate browsers warn about: said, not counted against readiness
    // (the CA may be down for hours; the listener must not be taken out of a load balancer for that).
    json placeholders = json::array();
    for (const auto& l : control_.rt().listeners)
      if (const auto contexts = l->current_contexts(); contexts && contexts->placeholder())
        placeholders.push_back(l->name);
    if (!placeholders.empty()) body["tls_placeholder"] = placeholders;
    co_return json_response(waiting.empty() && known ? 200 : 503, body);
  }
  if (p.size() == 1 && p[0] == "metrics") {
    if (auto refused = only(http::verb::get, "GET")) co_return *refused;
    response res{http::status::ok, 11};
    res.set(http::field::content_type, metrics::exposition_content_type);
    res.set(http::field::cache_control, "no-store");
    res.body() = render_metrics(control_.rt(), actions_, &control_.config_state(), control_.cluster(),
                                &control_.acme().counts());
    co_return res;
  }
  // Between the start of a binary upgrade and this process's exit, the successor reads (or has read) the
  // state file: a change made here would be lost, so none is taken. Reads go on.
  if (method != http::verb::get && method != http::verb::head && control_.upgrading()) {
    auto res = error_response(503, "upgrading",
                              "a binary upgrade is in progress: changes go to the new process once it serves; retry");
    res.set(http::field::retry_after, "1");
    co_return res;
  }
  if (p.size() == 2 && p[0] == "v1" && p[1] == "tls") {
    if (auto refused = only(http::verb::get, "GET")) co_return *refused;
    co_return tls_status();
  }
  if (p.size() == 3 && p[0] == "v1" && p[1] == "tls" && p[2] == "reload") co_return co_await reload_tls(c);
  if (p.size() == 3 && p[0] == "v1" && p[1] == "tls" && p[2] == "renew") {
    if (auto refused = only(http::verb::post, "POST")) co_return *refused;
    co_return renew_tls(c);
  }
  if (p.size() == 2 && p[0] == "v1" && p[1] == "upgrade") {
    if (auto refused = only(http::verb::post, "POST")) co_return *refused;
    co_return co_await upgrade();
  }
  if (p.size() == 3 && p[0] == "v1" && p[1] == "config" && p[2] == "reload") {
    if (auto refused = only(http::verb::post, "POST")) co_return *refused;
    co_return reload_config();
  }
  if (p.size() == 2 && p[0] == "v1" && p[1] == "info") {
    if (auto refused = only(http::verb::get, "GET")) co_return *refused;
    co_return info();
  }
  if (p.size() == 2 && p[0] == "v1" && p[1] == "cluster") {
    if (auto refused = only(http::verb::get, "GET")) co_return *refused;
    co_return co_await cluster_status();
  }
  if (p.empty() || p[0] != "v1" || p.size() < 2 || p[1] != "upstreams")
    co_return error_response(404, "not_found", "no such endpoint");

  if (p.size() >= 3) c.upstream = p[2];
  if (p.size() >= 5) c.node = p[4];
  if (const auto wait = query_param(c.query, "wait")) {
    const auto parsed = conf::parse_duration(*wait);
    if (!parsed || *parsed > max_wait)
      co_return error_response(
          400, "bad_request",
          "wait: expected a duration such as \"30s\" or \"5m\" (at most 24h), got \"" + *wait + "\"");
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
    auto body = node_json(*group, *n, control_.checker());
    if (control_.cluster()) body["replicas"] = co_await replica_views(group->name(), n->name());
    co_return json_response(200, body);
  }
  if (p[5] != "drain" && p[5] != "undrain") co_return error_response(404, "not_found", "no such endpoint");
  if (auto refused = only(http::verb::post, "POST")) co_return *refused;
  co_return co_await node_action(c, group, n, p[5]);
}

task<response> admin_api::node_action(call& c, const std::shared_ptr<upstream_group>& group,
                                      const std::shared_ptr<node>& n, const std::string& action) {
  if (action == "drain") {
    if (auto refused = co_await control_.drain(*group, *n, c.force)) co_return refusal_response(*refused);
    if (!c.wait) co_return json_response(202, node_json(*group, *n, control_.checker()));
    const bool drained = co_await wait_out_drain(c, group, n, /*removal=*/false);
    if (drained && n->admin.load() == upstream::admin_state::drained)
      co_return json_response(200, node_json(*group, *n, control_.checker()));
    if (drained) co_return error_response(409, "undrained", "node " + n->name() + " was undrained during the wait");
    co_return error_response(504, "timeout",
                             "node " + n->name() + " still has " + in_flight_here_and_there(*group, *n) + " after " +
                                 conf::format_duration(*c.wait) + "; it stays draining");
  }
  if (auto refused = co_await control_.undrain(*group, *n)) co_return refusal_response(*refused);
  if (!c.wait) co_return json_response(202, node_json(*group, *n, control_.checker()));
  // In a cluster: every live replica sees the node take requests again.
  const auto version = control_.shared_version(group->name());
  const auto since = std::chrono::steady_clock::now();
  if (auto* link = control_.cluster()) link->want_fresh_peers(since + *c.wait);
  auto active_everywhere = [&] {
    return n->eligible() && control_.peers_settled(group->name(), n->name(), version, /*active=*/true, since);
  };
  const bool settled = co_await wait_until(
      [&] { return active_everywhere() || n->admin.load() != upstream::admin_state::ready; }, *c.wait);
  if (settled && n->admin.load() == upstream::admin_state::ready)
    co_return json_response(200, node_json(*group, *n, control_.checker()));
  if (settled) co_return error_response(409, "drained", "node " + n->name() + " was drained during the wait");
  std::string why = n->eligible() ? "is not active on every replica yet" : "is not healthy";
  auto res = error_response(504, "timeout",
                            "node " + n->name() + " " + why + " after " + conf::format_duration(*c.wait) +
                                "; it stays out of rotation until its health checks pass");
  co_return res;
}

task<response> admin_api::add_node(call& c, const std::shared_ptr<upstream_group>& group) {
  const auto body = json::parse(c.req.body(), nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("name") || !body["name"].is_string() || !body.contains("address") ||
      !body["address"].is_string())
    co_return error_response(400, "bad_request",
                             R"(expected a JSON object {"name": "...", "address": "host:port", "weight": 1})");
  std::uint32_t weight = 1;
  if (body.contains("weight")) {
    if (!body["weight"].is_number_unsigned())
      co_return error_response(400, "bad_request", "weight must be an integer from 1 to 1000");
    weight = static_cast<std::uint32_t>(std::min<std::uint64_t>(body["weight"].get<std::uint64_t>(), 100000));
  }
  c.node = body["name"].get<std::string>();
  auto added = co_await control_.add_node(group, c.node, body["address"].get<std::string>(), weight);
  if (auto* refused = std::get_if<refusal>(&added)) co_return refusal_response(*refused);
  co_return json_response(201, node_json(*group, *std::get<std::shared_ptr<node>>(added), control_.checker()));
}

task<response> admin_api::remove_node(call& c, const std::shared_ptr<upstream_group>& group,
                                      const std::shared_ptr<node>& n) {
  if (auto refused = co_await control_.remove_node(*group, n, c.force)) co_return refusal_response(*refused);
  if (n->removed.load() && !control_.cluster()) co_return json_response(200, json{{"removed", n->name()}});
  if (!c.wait) co_return json_response(202, node_json(*group, *n, control_.checker()));
  const bool gone = co_await wait_out_drain(c, group, n, /*removal=*/true);
  if (gone && n->removed.load()) co_return json_response(200, json{{"removed", n->name()}});
  if (gone) co_return error_response(409, "undrained", "node " + n->name() + " was undrained during the wait");
  co_return error_response(504, "timeout",
                           "node " + n->name() + " still has " + in_flight_here_and_there(*group, *n) + " after " +
                               conf::format_duration(*c.wait) + "; it stays draining and is removed once they finish");
}

// Re-reads the config file and applies it whole (control_plane::reload). 200 with the new generation; 400 with every
// problem (the lines `drawbridge check` prints) when the file is wrong, 500 when it could not be applied; in both the
// running config stays.
response admin_api::reload_config() {
  const auto result = control_.reload();
  if (result.status == 200)
    return json_response(200, json{{"generation", result.generation}, {"config", config_json()}});
  std::string message;
  for (const auto& e : result.errors) message += (message.empty() ? "" : "; ") + e;
  auto body = json{{"error",
                    {{"code", result.status == 400 ? "invalid_config" : "reload_failed"},
                     {"message", message},
                     {"problems", result.errors}}},
                   {"generation", result.generation}};
  return json_response(result.status, body);
}

// Starts the binary now on disk with this process's listening sockets and waits until it serves
// (control_plane::upgrade). 200 with both pids, after which this process finishes its requests and exits;
// 500 with the new process's output when it did not come up (this process goes on serving).
task<response> admin_api::upgrade() {
  const auto result = co_await control_.upgrade();
  if (result.status == 200)
    co_return json_response(200, json{{"pid", static_cast<long>(result.pid)},
                                      {"version", result.version},
                                      {"old_pid", static_cast<long>(::getpid())}});
  auto body = json{
      {"error", {{"code", result.status == 500 ? "upgrade_failed" : "upgrade_refused"}, {"message", result.error}}}};
  if (!result.output.empty()) body["output"] = result.output;
  co_return json_response(result.status, body);
}

json admin_api::config_json() const {
  const auto& s = control_.config_state();
  return {{"path", s.path},
          {"sha256", s.sha256},
          {"generation", s.generation},
          {"loaded_at",
           format_utc(std::chrono::duration_cast<std::chrono::milliseconds>(s.loaded_at.time_since_epoch()).count())}};
}

response admin_api::info() const {
  return json_response(200, json{{"version", DRAWBRIDGE_VERSION},
                                 {"pid", static_cast<long>(::getpid())},
                                 {"started_at", format_utc(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                               control_.config_state().started_at.time_since_epoch())
                                                               .count())},
                                 {"config", config_json()}});
}

namespace {

std::string utc_of(std::chrono::system_clock::time_point t) {
  return format_utc(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

}  // namespace

// Every certificate every HTTPS listener serves, where it comes from, and for ACME listeners the order
// state: when the next order is due and why the last one failed.
response admin_api::tls_status() const {
  json listeners = json::array();
  const auto& states = control_.acme().states();
  for (const auto& l : control_.rt().listeners) {
    if (!l->tls()) continue;
    json certs = json::array();
    if (const auto contexts = l->current_contexts())
      for (const auto& cert : contexts->certificates()) {
        json entry{{"source", cert.source},
                   {"names", cert.names},
                   {"subject", cert.subject},
                   {"issuer", cert.issuer},
                   {"not_after", utc_of(cert.not_after)}};
        if (!cert.cert_path.empty()) entry["file"] = cert.cert_path;
        certs.push_back(std::move(entry));
      }
    json entry{{"listener", l->name}, {"certificates", certs}};
    if (const auto& acme = l->config.tls->acme) {
      json order{{"directory", acme->directory}, {"domains", acme->domains}, {"challenge", acme->challenge}};
      if (const auto found = states.find(l->name); found != states.end()) {
        const auto& st = found->second;
        order["ordering"] = st.ordering;
        order["next_renewal"] = utc_of(st.next_attempt);
        order["failures"] = st.failures;
        if (!st.last_error.empty()) order["last_error"] = st.last_error;
        if (st.last_order.time_since_epoch().count() != 0) order["last_order"] = utc_of(st.last_order);
      }
      entry["acme"] = std::move(order);
    }
    listeners.push_back(std::move(entry));
  }
  return json_response(200, json{{"listeners", listeners}});
}

// Every ACME listener (or ?listener=ADDRESS) orders a certificate now, whatever its expiry. An order that
// failed within the hour holds the listener back (429, and when it may order again).
response admin_api::renew_tls(call& c) {
  const auto only = query_param(c.query, "listener").value_or("");
  bool any = false;
  for (const auto& l : control_.rt().listeners)
    if (l->config.tls && l->config.tls->acme && (only.empty() || l->name == only)) any = true;
  if (!any)
    return error_response(404, "not_found",
                          only.empty() ? "no listener has tls.acme" : "no listener " + only + " with tls.acme");
  const auto waiting = control_.acme().renew_now(only);
  if (!waiting.empty()) {
    std::string message;
    for (const auto& [name, at] : waiting)
      message +=
          (message.empty() ? "" : "; ") + name + ": an order failed within the hour, next allowed at " + utc_of(at);
    auto res = error_response(429, "rate_limited", message);
    const auto wait =
        std::chrono::duration_cast<std::chrono::seconds>(waiting.begin()->second - std::chrono::system_clock::now());
    res.set(http::field::retry_after, std::to_string(std::max<std::int64_t>(1, wait.count())));
    return res;
  }
  return json_response(202, json{{"renewing", only.empty() ? json("all") : json(only)}});
}

// Re-reads every HTTPS listener's certificate files. New handshakes use the new certificates; open
// connections go on with theirs. All or nothing: when one listener's files fail, every listener keeps its
// current certificates.
task<response> admin_api::reload_tls(call& c) {
  if (auto refused = refuse_method(c.req.method(), http::verb::post, "POST")) co_return *refused;
  const auto errors = proxy::load_certificates(control_.rt().listeners);
  if (!errors.empty()) {
    std::string message;
    for (const auto& e : errors) message += (message.empty() ? "" : "; ") + e;
    spdlog::error("certificate reload failed, the previous certificates stay in use: {}", message);
    co_return error_response(500, "reload_failed", message + " (every listener keeps its previous certificates)");
  }
  json listeners = json::array();
  for (std::size_t i = 0; i < control_.rt().listeners.size(); ++i) {
    const auto& l = *control_.rt().listeners[i];
    if (!l.tls()) continue;
    json certs = json::array();
    for (const auto& cert : l.current_contexts()->certificates())
      certs.push_back(
          {{"cert", cert.cert_path},
           {"source", cert.source},
           {"subject", cert.subject},
           {"names", cert.names},
           {"not_after",
            format_utc(
                std::chrono::duration_cast<std::chrono::milliseconds>(cert.not_after.time_since_epoch()).count())}});
    listeners.push_back({{"listener", i}, {"certificates", certs}});
  }
  spdlog::info("certificates reloaded");
  co_return json_response(200, json{{"reloaded", listeners}});
}

// A drain lets the node's requests and WebSocket tunnels run until its `wait` runs out. Then the tunnels
// go away (the drain's deadline, upstream::drain_machine) and the wait extends by the little time that
// takes, so that a node held only by tunnels ends drained, not timed out.
task<bool> admin_api::wait_out_drain(call& c, std::shared_ptr<upstream::upstream_group> group, std::shared_ptr<node> n,
                                     bool removal) {
  // In a cluster the change is settled once every live replica has applied it and has nothing in flight
  // on the node (peers_settled); a replica that stops sending heartbeats stops counting.
  const auto version = control_.shared_version(group->name());
  const auto since = std::chrono::steady_clock::now();
  if (auto* link = control_.cluster()) link->want_fresh_peers(since + *c.wait + std::chrono::seconds(3));
  auto settled = [this, n, removal, group, version, since] {
    const bool here = removal ? n->removed.load() || !control_.removal_pending(*n)
                              : n->admin.load() != upstream::admin_state::draining;
    if (!here) return false;
    // Undrained meanwhile: the caller answers that, whatever the other replicas say.
    if (n->admin.load() == upstream::admin_state::ready) return true;
    return control_.peers_settled(group->name(), n->name(), version, /*active=*/false, since);
  };
  if (!settled()) control_.close_tunnels_at(*group, *n, std::chrono::steady_clock::now() + *c.wait);
  bool done = co_await wait_until(settled, *c.wait);
  if (!done && !control_.stopping()) {
    c.tunnels_closed = control_.close_tunnels(*group, *n);
    if (c.tunnels_closed > 0)
      done = co_await wait_until(settled, upstream::tunnel_close_limit + std::chrono::seconds(1));
  }
  co_return done;
}

response admin_api::refusal_response(const refusal& r) const {
  auto res = error_response(r.status, r.code, r.message);
  if (r.status == 503) res.set(http::field::retry_after, "1");
  return res;
}

std::string admin_api::in_flight_here_and_there(const upstream::upstream_group& group, const node& n) const {
  std::string out = std::to_string(n.in_flight.load()) + " request(s) in flight here";
  const auto* link = control_.cluster();
  if (!link) return out.substr(0, out.size() - 5);  // " here" means nothing without other replicas
  if (!link->connected()) return out + " (the other replicas are unknown: Redis is unreachable)";
  for (const auto& peer : link->peers())
    if (const auto* view = peer.heartbeat.node(group.name(), n.name()); view && view->in_flight.value_or(0) != 0)
      out += ", " + std::to_string(*view->in_flight) + " through replica " + peer.replica;
  return out;
}

// Every live replica's view of one node (its health verdict is its own: network paths differ).
task<json> admin_api::replica_views(std::string upstream, std::string node_name) {
  auto* link = control_.cluster();
  const auto all = co_await link->replicas();
  if (!all) co_return json(nullptr);
  json out = json::array();
  for (const auto& r : *all) {
    json view{{"replica", r.replica}, {"id", r.id}, {"heartbeat_age_ms", r.age.count()}};
    if (const auto* n = r.heartbeat.node(upstream, node_name)) {
      view["state"] = n->state;
      view["admin"] = n->admin;
      view["health"] = n->health;
      view["in_flight"] = n->in_flight ? json(*n->in_flight) : json(nullptr);
    }
    out.push_back(std::move(view));
  }
  co_return out;
}

// GET /v1/cluster: the replicas sharing this one's admin state, as their heartbeats say.
task<response> admin_api::cluster_status() {
  auto* link = control_.cluster();
  if (!link) co_return error_response(404, "no_cluster", "this drawbridge runs alone (its config has no \"cluster\")");
  json body{{"cluster", link->config().name},
            {"replica", link->replica()},
            {"redis", conf::to_string(link->config().redis)},
            {"connected", link->connected()}};
  const auto all = co_await link->replicas();
  if (!all) {
    body["error"] = {{"code", "cluster_unavailable"}, {"message", "Redis is unreachable: " + link->last_error()}};
    co_return json_response(503, body);
  }
  json list = json::array();
  for (const auto& r : *all) {
    const auto& hb = r.heartbeat;
    json applied = json::object();
    for (const auto& [name, u] : hb.upstreams)
      applied[name] = {{"epoch", u.applied_epoch}, {"version", u.applied_version}};
    list.push_back({{"replica", r.replica},
                    {"id", r.id},
                    {"self", r.id == link->instance()},
                    {"pid", hb.pid},
                    {"version", hb.version},
                    {"heartbeat_age_ms", r.age.count()},
                    {"in_flight", hb.in_flight},
                    {"applied", std::move(applied)}});
  }
  body["replicas"] = std::move(list);
  co_return json_response(200, body);
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
