// GET /metrics on the admin listener: exact counts after known traffic, the format as promtool reads it,
// the token rule, and the shipped alert rules and Grafana dashboard checked against what drawbridge
// exports.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "proxy/gzip_encoder.hpp"
#include "tests/support/fake_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_certs.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/tls_client.hpp"

using namespace drawbridge;
using namespace drawbridge::testing;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

namespace {

// The samples of a scrape, by series exactly as written (name{labels}).
std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

// The family names a scrape declares (its # TYPE lines).
std::set<std::string> families(const std::string& text) {
  std::set<std::string> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("# TYPE ")) out.insert(line.substr(7, line.find(' ', 7) - 7));
  return out;
}

// What a scrape offers a query: each family with the label names and the label="value" pairs its samples
// carry ("drawbridge_node_state|state" and "drawbridge_node_state|state=active").
std::set<std::string> labels_offered(const std::string& text) {
  const auto declared = families(text);
  std::set<std::string> out;
  for (const auto& [series, value] : samples(text)) {
    std::string name = series.substr(0, series.find('{'));
    if (!declared.contains(name))
      for (const std::string suffix : {"_bucket", "_sum", "_count"})
        if (name.ends_with(suffix)) name.resize(name.size() - suffix.size());
    for (auto at = series.find('{'); at != std::string::npos && at + 1 < series.size();) {
      const auto eq = series.find('=', at + 1);
      const auto end = series.find('"', eq + 2);
      if (eq == std::string::npos || end == std::string::npos) break;
      const auto label = series.substr(at + 1, eq - at - 1);
      std::string key = name;
      key.append("|").append(label);
      out.insert(key);
      out.insert(key.append("=").append(series.substr(eq + 2, end - eq - 2)));
      at = series[end + 1] == ',' ? end + 1 : std::string::npos;
    }
  }
  return out;
}

// A series name in a PromQL expression and the matchers of its selector, if any.
struct selector {
  std::string name;
  std::vector<std::pair<std::string, std::string>> equals;  // label="value" (exact matchers)
  std::vector<std::string> other;                           // labels matched by !=, =~ or !~
};

// Every drawbridge_ or process_ selector in `expr` (a hand-written scan: std::regex trips a GCC 12
// warning under the sanitizers).
std::vector<selector> selectors(const std::string& expr) {
  std::vector<selector> out;
  auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (std::size_t i = 0; i < expr.size(); ++i) {
    if (i > 0 && ident(expr[i - 1])) continue;
    if (expr.compare(i, 11, "drawbridge_") != 0 && expr.compare(i, 8, "process_") != 0) continue;
    std::size_t j = i;
    while (j < expr.size() && ident(expr[j])) ++j;
    selector sel{expr.substr(i, j - i), {}, {}};
    if (j < expr.size() && expr[j] == '{') {
      const auto close = expr.find('}', j);
      std::string inside = expr.substr(j + 1, close - j - 1);
      for (std::size_t k = 0; k < inside.size();) {
        const auto op = inside.find_first_of("=!", k);
        if (op == std::string::npos) break;
        std::string label = inside.substr(k, op - k);
        label.erase(0, label.find_first_not_of(' '));
        const bool exact = inside[op] == '=' && inside[op + 1] != '~';
        const auto open = inside.find('"', op);
        const auto end = inside.find('"', open + 1);
        if (exact)
          sel.equals.emplace_back(label, inside.substr(open + 1, end - open - 1));
        else
          sel.other.push_back(label);
        k = inside.find(',', end);
        k = k == std::string::npos ? inside.size() : k + 1;
      }
      j = close;
    }
    out.push_back(std::move(sel));
    i = j;
  }
  return out;
}

std::string scrape(std::uint16_t admin_port) {
  test_client admin(admin_port);
  const auto res = admin.get("/metrics");
  EXPECT_EQ(res.status, 200u);
  EXPECT_EQ(res.headers[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  return res.body;
}

// Runs a shell command; its exit status and output (stdout and stderr).
std::pair<int, std::string> run(const std::string& command) {
  auto result = run_shell(command);
  return {result.exit_code, std::move(result.out)};
}

// promtool comes with the Debian package prometheus, which scripts/install-deps installs.
void require_promtool() {
  ASSERT_EQ(run("command -v promtool").first, 0) << "promtool is missing: run scripts/install-deps";
}

std::string source_file(const std::string& relative) {
  std::ifstream in(std::string(DRAWBRIDGE_SOURCE_DIR) + "/" + relative);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

double histogram_count(const std::map<std::string, double>& s, const std::string& name, const std::string& labels) {
  const auto it = s.find(name + "_count{" + labels + "}");
  return it == s.end() ? -1 : it->second;
}

}  // namespace

TEST(metrics, counts_after_known_traffic_are_exact) {
  fake_node a({"a"}), b({"b"});
  auto config = admin_test_config({a.port(), b.port()}, false);
  config.gzip.enabled = true;
  proxy_under_test proxy(config);
  {
    test_client client(proxy.port());
    // Round robin from node1: node1 gets requests 1, 3, 5, 7 and node2 requests 2, 4, 6.
    for (int i = 0; i < 4; ++i) ASSERT_EQ(client.get("/x").status, 200u);
    ASSERT_EQ(client.get("/x?status=404").status, 404u);                                                      // node1
    ASSERT_EQ(client.request(http::verb::post, "/upload", std::string(1000, 'u')).status, 200u);              // node2
    const auto zipped = client.request(http::verb::get, "/g?bytes=5000", {}, {{"Accept-Encoding", "gzip"}});  // node1
    ASSERT_EQ(zipped.headers[http::field::content_encoding], "gzip");
    // A malformed request is refused before routing.
    const auto refused = raw_exchange(proxy.port(), "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n");
    ASSERT_EQ(first_status(refused.received), 400u);

    // A request is counted just after its answer is written: wait for the last of them.
    std::map<std::string, double> s;
    ASSERT_TRUE(wait_for([&] {
      s = samples(scrape(proxy.admin_port()));
      return histogram_count(s, "drawbridge_request_duration_seconds", R"(upstream="app")") == 7 &&
             s.contains(R"(drawbridge_requests_total{upstream="",node="",code="400"})");
    }));
    auto at = [&](const std::string& series) {
      const auto it = s.find(series);
      return it == s.end() ? -1.0 : it->second;
    };
    EXPECT_EQ(at(R"(drawbridge_requests_total{upstream="app",node="node1",code="200"})"), 3);
    EXPECT_EQ(at(R"(drawbridge_requests_total{upstream="app",node="node1",code="404"})"), 1);
    EXPECT_EQ(at(R"(drawbridge_requests_total{upstream="app",node="node2",code="200"})"), 3);
    EXPECT_EQ(at(R"(drawbridge_requests_total{upstream="",node="",code="400"})"), 1);
    EXPECT_EQ(at(R"(drawbridge_rejected_requests_total{reason="malformed"})"), 1);
    EXPECT_EQ(at(R"(drawbridge_rejected_requests_total{reason="header_too_large"})"), 0);
    EXPECT_EQ(histogram_count(s, "drawbridge_request_duration_seconds", R"(upstream="app")"), 7);
    EXPECT_EQ(at(R"(drawbridge_request_duration_seconds_bucket{upstream="app",le="+Inf"})"), 7);
    EXPECT_EQ(histogram_count(s, "drawbridge_upstream_response_duration_seconds", R"(upstream="app",node="node1")"), 4);
    EXPECT_EQ(histogram_count(s, "drawbridge_upstream_response_duration_seconds", R"(upstream="app",node="node2")"), 3);
    // One connection to each node, reused for the rest.
    EXPECT_EQ(at(R"(drawbridge_upstream_connections_total{upstream="app",node="node1",reused="false"})"), 1);
    EXPECT_EQ(at(R"(drawbridge_upstream_connections_total{upstream="app",node="node1",reused="true"})"), 3);
    EXPECT_EQ(at(R"(drawbridge_upstream_connections_total{upstream="app",node="node2",reused="false"})"), 1);
    EXPECT_EQ(at(R"(drawbridge_upstream_connections_total{upstream="app",node="node2",reused="true"})"), 2);
    EXPECT_EQ(at("drawbridge_bytes_received_total"), 1000);
    EXPECT_EQ(at(R"(drawbridge_gzip_bytes_in_total{encoding="gzip"})"), 5000);
    EXPECT_EQ(at(R"(drawbridge_gzip_bytes_out_total{encoding="gzip"})"), static_cast<double>(zipped.body.size()));
    EXPECT_EQ(at(R"(drawbridge_gzip_bytes_in_total{encoding="zstd"})"), 0);
    EXPECT_EQ(at(R"(drawbridge_gzip_bytes_out_total{encoding="br"})"), 0);
    EXPECT_EQ(at(R"(drawbridge_downstream_connections_total{listener="127.0.0.1:0"})"), 2);
    EXPECT_EQ(at(R"(drawbridge_refused_connections_total{listener="127.0.0.1:0"})"), 0);
    EXPECT_TRUE(wait_for([&] {  // the refused request's connection closes; the client's stays open
      return samples(scrape(proxy.admin_port())).at(R"(drawbridge_downstream_connections{listener="127.0.0.1:0"})") ==
             1;
    }));
    EXPECT_EQ(at(R"(drawbridge_node_in_flight{upstream="app",node="node1"})"), 0);
    EXPECT_EQ(at(R"(drawbridge_node_state{upstream="app",node="node1",state="active"})"), 1);
    EXPECT_EQ(at(R"(drawbridge_node_state{upstream="app",node="node1",state="drained"})"), 0);
    EXPECT_EQ(at(R"(drawbridge_upstream_eligible_nodes{upstream="app"})"), 2);
    EXPECT_EQ(at(R"(drawbridge_build_info{version=")" DRAWBRIDGE_VERSION R"("})"), 1);
    EXPECT_GT(at("process_resident_memory_bytes"), 1e6);
    EXPECT_GT(at("process_open_fds"), 3);
    EXPECT_GT(at("process_start_time_seconds"), 1.7e9);
  }
  // The client connections closed: the gauge goes back to 0.
  EXPECT_TRUE(wait_for([&] {
    return samples(scrape(proxy.admin_port())).at(R"(drawbridge_downstream_connections{listener="127.0.0.1:0"})") == 0;
  }));
}

TEST(metrics, retries_drains_and_admin_actions_are_counted) {
  fake_node live({"live"});
  std::uint16_t dead_port = 0;
  {
    fake_node gone({"gone"});  // started and stopped: its port now refuses connections
    dead_port = gone.port();
  }
  auto config = admin_test_config({dead_port, live.port()}, false);
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  ASSERT_EQ(client.get("/x").status, 200u);  // node1 refuses; node2 answers
  test_client admin(proxy.admin_port());
  ASSERT_EQ(admin.request(http::verb::post, "/v1/upstreams/app/nodes/node1/drain?force=true").status, 202u);
  ASSERT_EQ(admin.request(http::verb::post, "/v1/upstreams/app/nodes/node2/drain").status, 409u);  // min_available
  ASSERT_EQ(admin.request(http::verb::post, "/v1/upstreams/app/nodes/node2/bogus").status, 404u);
  std::map<std::string, double> s;
  ASSERT_TRUE(wait_for([&] {
    s = samples(scrape(proxy.admin_port()));
    return s.contains(R"(drawbridge_requests_total{upstream="app",node="node2",code="200"})");
  }));
  EXPECT_EQ(s.at(R"(drawbridge_retries_total{upstream="app",reason="connect_failed"})"), 1);
  EXPECT_GE(s.at(R"(drawbridge_node_failures_total{upstream="app",node="node1"})"), 1);
  EXPECT_EQ(s.at(R"(drawbridge_retries_total{upstream="app",reason="gateway_error"})"), 0);
  EXPECT_EQ(s.at(R"(drawbridge_requests_total{upstream="app",node="node2",code="200"})"), 1);
  EXPECT_EQ(s.count(R"(drawbridge_requests_total{upstream="app",node="node1",code="200"})"), 0u);
  EXPECT_EQ(s.at(R"(drawbridge_node_state{upstream="app",node="node1",state="drained"})"), 1);
  EXPECT_EQ(s.at(R"(drawbridge_admin_actions_total{action="drain",result="ok"})"), 1);
  EXPECT_EQ(s.at(R"(drawbridge_admin_actions_total{action="drain",result="min_available"})"), 1);
  EXPECT_EQ(s.at(R"(drawbridge_admin_actions_total{action="unknown",result="not_found"})"), 1);
}

TEST(metrics, health_checks_are_counted_and_an_unhealthy_node_shows) {
  fake_node a({"a"}), b({"b"});
  auto config = admin_test_config({a.port(), b.port()}, true);
  // The counts below say node1 never failed a probe: give a probe more than the harness's 50 ms, which the
  // first probes of a ThreadSanitizer build sometimes need (seen: "timed out after 50ms" in 1 run of 4).
  config.upstreams[0].health_check.interval = 250ms;
  config.upstreams[0].health_check.timeout = 250ms;
  proxy_under_test proxy(config);
  b.set_healthy(false);
  std::map<std::string, double> s;
  ASSERT_TRUE(wait_for([&] {
    s = samples(scrape(proxy.admin_port()));
    // node1's second probe may end just after node2's: both are waited for (the two ran a race here).
    return s.at(R"(drawbridge_node_healthy{upstream="app",node="node2"})") == 0 &&
           s.at(R"(drawbridge_health_checks_total{upstream="app",node="node2",result="failed"})") >= 2 &&
           s.at(R"(drawbridge_health_checks_total{upstream="app",node="node1",result="passed"})") >= 2;
  }));
  EXPECT_GE(s.at(R"(drawbridge_health_checks_total{upstream="app",node="node1",result="passed"})"), 2);
  EXPECT_EQ(s.at(R"(drawbridge_health_checks_total{upstream="app",node="node1",result="failed"})"), 0);
  EXPECT_EQ(s.at(R"(drawbridge_node_healthy{upstream="app",node="node1"})"), 1);
  EXPECT_EQ(s.at(R"(drawbridge_node_state{upstream="app",node="node2",state="unhealthy"})"), 1);
  EXPECT_EQ(s.at(R"(drawbridge_upstream_eligible_nodes{upstream="app"})"), 1);
}

TEST(metrics, an_https_scrape_passes_promtool_and_holds_every_family_the_operators_rely_on) {
  ASSERT_NO_FATAL_FAILURE(require_promtool());
  test_ca ca;
  const auto cert = ca.issue("site", "app.test", {"app.test"});
  fake_node node({"a"});
  auto config = admin_test_config({node.port()}, false);
  use_tls(config, {cert});
  proxy_under_test proxy(config);
  {
    tls_client client(proxy.port(), {.sni = "app.test"});
    ASSERT_TRUE(client.connected()) << client.error();
    ASSERT_EQ(client.get("/x").status, 200u);
  }
  const auto text = scrape(proxy.admin_port());
  const auto path = write_temp_file(text, ".prom");
  const auto [status, output] = run("promtool check metrics < " + path);
  EXPECT_EQ(status, 0) << output;
  const auto names = families(text);
  for (const char* name : {"drawbridge_requests_total",
                           "drawbridge_request_duration_seconds",
                           "drawbridge_upstream_response_duration_seconds",
                           "drawbridge_downstream_connections",
                           "drawbridge_downstream_connections_total",
                           "drawbridge_node_in_flight",
                           "drawbridge_node_state",
                           "drawbridge_node_healthy",
                           "drawbridge_health_checks_total",
                           "drawbridge_node_ejections_total",
                           "drawbridge_retries_total",
                           "drawbridge_upstream_connections_total",
                           "drawbridge_bytes_received_total",
                           "drawbridge_bytes_sent_total",
                           "drawbridge_gzip_bytes_in_total",
                           "drawbridge_gzip_bytes_out_total",
                           "drawbridge_tls_handshakes_total",
                           "drawbridge_tls_certificate_expiry_timestamp_seconds",
                           "drawbridge_admin_actions_total",
                           "drawbridge_rejected_requests_total",
                           "drawbridge_build_info",
                           "process_cpu_seconds_total",
                           "process_resident_memory_bytes",
                           "process_open_fds",
                           "process_start_time_seconds"})
    EXPECT_TRUE(names.contains(name)) << name;
  const auto s = samples(text);
  EXPECT_EQ(s.at(R"(drawbridge_tls_handshakes_total{listener="127.0.0.1:0",result="full"})"), 1);
  EXPECT_EQ(s.at(R"(drawbridge_tls_handshakes_total{listener="127.0.0.1:0",result="failed"})"), 0);
  // The certificate's expiry, to the second, under its name.
  const auto expiry =
      s.at(R"(drawbridge_tls_certificate_expiry_timestamp_seconds{listener="127.0.0.1:0",name="app.test",file=")" +
           cert.cert + R"("})");
  const auto not_after = proxy.rt().listeners[0]->current_contexts()->certificates().front().not_after;
  EXPECT_EQ(expiry, static_cast<double>(
                        std::chrono::duration_cast<std::chrono::seconds>(not_after.time_since_epoch()).count()));
}

TEST(metrics, the_scrape_is_open_unless_metrics_auth_asks_for_the_token) {
  fake_node node({"a"});
  auto config = admin_test_config({node.port()}, false);
  config.admin.token_file = write_temp_file("ops:s3cret-token\n", ".tokens");
  {
    proxy_under_test proxy(config);
    test_client admin(proxy.admin_port());
    EXPECT_EQ(admin.get("/metrics").status, 200u);
    EXPECT_EQ(admin.get("/v1/upstreams").status, 401u);  // the rest of the API still needs it
  }
  config.admin.metrics_auth = true;
  proxy_under_test proxy(config);
  test_client refused(proxy.admin_port());
  EXPECT_EQ(refused.get("/metrics").status, 401u);  // and the connection closes
  test_client admin(proxy.admin_port());
  const auto res = admin.request(http::verb::get, "/metrics", {}, {{"Authorization", "Bearer s3cret-token"}});
  EXPECT_EQ(res.status, 200u);
  EXPECT_NE(res.body.find("drawbridge_requests_total"), std::string::npos);
  EXPECT_EQ(admin.request(http::verb::post, "/metrics", {}, {{"Authorization", "Bearer s3cret-token"}}).status, 405u);
}

TEST(metrics, the_shipped_alert_rules_and_prometheus_config_pass_promtool) {
  ASSERT_NO_FATAL_FAILURE(require_promtool());
  const std::string dir = std::string(DRAWBRIDGE_SOURCE_DIR) + "/conf/prometheus/";
  auto [status, output] = run("promtool check rules " + dir + "alerts.yml");
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("SUCCESS: 6 rules found"), std::string::npos) << output;
  std::tie(status, output) = run("promtool check config " + dir + "prometheus.yml");
  EXPECT_EQ(status, 0) << output;
}

TEST(metrics, every_series_the_dashboard_and_the_alerts_query_is_one_drawbridge_exports) {
  // A scrape with every family present (an HTTPS listener for the TLS ones).
  test_ca ca;
  const auto cert = ca.issue("site", "app.test", {"app.test"});
  fake_node node({"a"});
  auto config = admin_test_config({node.port()}, false);
  use_tls(config, {cert});
  proxy_under_test proxy(config);
  {
    tls_client client(proxy.port(), {.sni = "app.test"});  // one request, so request series have samples
    ASSERT_EQ(client.get("/x").status, 200u);
  }
  std::string text;
  ASSERT_TRUE(wait_for([&] {
    text = scrape(proxy.admin_port());
    return text.find("drawbridge_requests_total{") != std::string::npos;
  }));
  const auto exported = families(text);
  const auto offered = labels_offered(text);
  // Histograms are queried through their _bucket, _sum and _count series.
  auto family_of = [&](std::string name) {
    if (!exported.contains(name))
      for (const std::string suffix : {"_bucket", "_sum", "_count"})
        if (name.ends_with(suffix)) return name.substr(0, name.size() - suffix.size());
    return name;
  };
  // Labels Prometheus adds itself; le is the histograms' own.
  const std::set<std::string> not_ours = {"instance", "job", "le"};
  auto check = [&](const std::string& where, const std::string& expr) {
    const auto found = selectors(expr);
    for (const auto& sel : found) {
      const auto family = family_of(sel.name);
      EXPECT_TRUE(exported.contains(family)) << where << ": " << sel.name << " in " << expr;
      for (const auto& [label, value] : sel.equals) {
        if (not_ours.contains(label)) continue;
        EXPECT_TRUE(offered.contains(std::string(family).append("|").append(label).append("=").append(value)))
            << where << ": " << family << " has no sample with " << label << "=\"" << value << "\"";
      }
      for (const auto& label : sel.other) {
        if (not_ours.contains(label)) continue;
        EXPECT_TRUE(offered.contains(std::string(family).append("|").append(label)))
            << where << ": " << family << " has no label " << label;
      }
    }
    return found.size();
  };

  const auto dashboard = nlohmann::json::parse(source_file("conf/grafana/drawbridge.json"));
  ASSERT_TRUE(dashboard.contains("panels"));
  std::set<std::string> titles;
  for (const auto& panel : dashboard["panels"]) {
    titles.insert(panel["title"].get<std::string>());
    ASSERT_FALSE(panel["targets"].empty()) << panel["title"];
    for (const auto& target : panel["targets"])
      EXPECT_GE(check(panel["title"].get<std::string>(), target["expr"].get<std::string>()), 1u) << panel["title"];
  }
  for (const char* wanted : {"Request latency p50 / p99", "Requests/s by status code", "5xx ratio", "Node state",
                             "In flight per node", "Health-check failures and ejections/s",
                             "Keep-alive pool reuse ratio", "TLS handshakes/s", "Certificate expiry (days)"})
    EXPECT_TRUE(titles.contains(wanted)) << wanted;

  // The alert rules: every series name in the file (expressions; the prose names none).
  const auto rules = source_file("conf/prometheus/alerts.yml");
  EXPECT_GE(check("alerts.yml", rules), 6u);
}
