#include "conf/config_loader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

using namespace drawbridge::conf;
using namespace std::chrono_literals;

namespace {

const char* minimal = R"({"upstreams":[{"name":"appsmith","nodes":[{"name":"node1","address":"10.0.0.11:80"}]}]})";

// Runs parse_config and returns its errors, one string each.
std::vector<std::string> errors_of(const std::string& json) { return parse_config(json).errors; }

bool has_error(const std::vector<std::string>& errors, const std::string& expected) {
  return std::find(errors.begin(), errors.end(), expected) != errors.end();
}

std::string with_node_address(const std::string& address) {
  return R"({"upstreams":[{"name":"a","nodes":[{"name":"n0","address":"10.0.0.1:80"},{"name":"n1","address":)" +
         address + "}]}]}";
}

}  // namespace

TEST(config, minimal_config_gets_documented_defaults) {
  const auto r = parse_config(minimal);
  ASSERT_TRUE(r.ok()) << r.errors.front();
  const config& c = r.value;
  EXPECT_EQ(c.workers, 0u);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].address, (host_port{"0.0.0.0", 8080}));
  EXPECT_EQ(c.limits.max_body_size, 150ull << 20);
  EXPECT_EQ(c.limits.max_header_size, 16ull << 10);
  EXPECT_EQ(c.limits.max_connections, 10000u);
  EXPECT_EQ(c.timeouts.client_header, duration(20s));
  EXPECT_EQ(c.timeouts.client_idle, duration(75s));
  EXPECT_EQ(c.timeouts.connect, duration(30s));
  EXPECT_EQ(c.timeouts.read, duration(300s));
  EXPECT_EQ(c.timeouts.send, duration(300s));
  EXPECT_EQ(c.timeouts.shutdown_grace, duration(30s));
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].path_prefix, "/");
  EXPECT_EQ(c.routes[0].upstream, "appsmith");
  ASSERT_EQ(c.upstreams.size(), 1u);
  EXPECT_EQ(c.upstreams[0].balance, balance_kind::round_robin);
  EXPECT_EQ(c.upstreams[0].keepalive.max_idle_per_node, 32u);
  EXPECT_EQ(c.upstreams[0].keepalive.idle_timeout, duration(60s));
  EXPECT_EQ(c.upstreams[0].keepalive.max_requests, 10000u);
  EXPECT_EQ(c.upstreams[0].nodes[0].weight, 1u);
  EXPECT_EQ(c.access_log.path, "-");
  EXPECT_EQ(c.access_log.max_files, 10u);
  EXPECT_TRUE(c.access_log.query);
  EXPECT_TRUE(c.trusted_proxies.empty());
  EXPECT_EQ(c.log_level, "info");
}

TEST(config, full_example_from_the_issue_parses) {
  const auto r = parse_config(R"({
    "workers": 2,
    "listeners": [{"address": "0.0.0.0:8080"}, {"address": "[::1]:8081"}],
    "limits": {"max_body_size": "150m", "max_header_size": "16k", "max_connections": 10000},
    "timeouts": {"client_header": "20s", "client_idle": "75s", "connect": "30s", "read": "300s",
                 "send": "300s", "shutdown_grace": "30s"},
    "routes": [{"path_prefix": "/", "upstream": "appsmith"},
               {"host": "Admin.Example.com", "path_prefix": "/api", "upstream": "appsmith"}],
    "upstreams": [{
      "name": "appsmith", "balance": "least_request",
      "keepalive": {"max_idle_per_node": 32, "idle_timeout": "60s", "max_requests": 10000},
      "nodes": [{"name": "node1", "address": "10.0.0.11:80", "weight": 3},
                {"name": "node2", "address": "10.0.0.12:80", "weight": 1}]
    }],
    "access_log": {"path": "-", "format": "json", "max_size": "100m", "max_files": 10},
    "log_level": "debug"
  })");
  ASSERT_TRUE(r.ok()) << r.errors.front();
  EXPECT_EQ(r.value.workers, 2u);
  EXPECT_EQ(r.value.listeners[1].address, (host_port{"::1", 8081}));
  EXPECT_EQ(r.value.upstreams[0].balance, balance_kind::least_request);
  EXPECT_EQ(r.value.upstreams[0].nodes[0].weight, 3u);
  EXPECT_EQ(r.value.routes[1].host, "admin.example.com");
  EXPECT_EQ(r.value.log_level, "debug");
}

TEST(config, node_address_without_port_names_its_json_path) {
  const auto errors = errors_of(with_node_address(R"("10.0.0.7")"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], R"(upstreams[0].nodes[1].address: expected host:port, got "10.0.0.7")");
}

TEST(config, node_address_errors_cover_bad_ports_and_types) {
  EXPECT_TRUE(has_error(errors_of(with_node_address(R"("10.0.0.7:0")")),
                        R"(upstreams[0].nodes[1].address: expected host:port, got "10.0.0.7:0")"));
  EXPECT_TRUE(has_error(errors_of(with_node_address(R"("10.0.0.7:70000")")),
                        R"(upstreams[0].nodes[1].address: expected host:port, got "10.0.0.7:70000")"));
  EXPECT_TRUE(
      has_error(errors_of(with_node_address("80")), "upstreams[0].nodes[1].address: expected host:port, got 80"));
}

TEST(config, unknown_keys_are_errors_at_every_level) {
  const auto errors = errors_of(R"({"worker": 1, "limits": {"max_body": "1m"},
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1","wieght":2}],"keepalive":{"idle":"1s"}}]})");
  EXPECT_TRUE(has_error(errors, "worker: unknown key"));
  EXPECT_TRUE(has_error(errors, "limits.max_body: unknown key"));
  EXPECT_TRUE(has_error(errors, "upstreams[0].nodes[0].wieght: unknown key"));
  EXPECT_TRUE(has_error(errors, "upstreams[0].keepalive.idle: unknown key"));
  EXPECT_EQ(errors.size(), 4u);
}

TEST(config, wrong_types_are_errors) {
  const auto errors = errors_of(R"({"workers": "2", "listeners": {}, "log_level": 3,
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1","weight":"heavy"}]}]})");
  EXPECT_TRUE(has_error(errors, "workers: expected an integer, got a string"));
  EXPECT_TRUE(has_error(errors, "listeners: expected an array, got an object"));
  EXPECT_TRUE(has_error(errors, "log_level: expected a string, got a number"));
  EXPECT_TRUE(has_error(errors, "upstreams[0].nodes[0].weight: expected an integer, got a string"));
}

TEST(config, every_problem_is_reported_at_once) {
  const auto errors = errors_of(R"({"workers": 1000,
    "limits": {"max_body_size": "lots", "max_header_size": "100"},
    "timeouts": {"connect": "30", "read": "0s"},
    "routes": [{"path_prefix": "api", "upstream": "nope"}],
    "upstreams":[{"name":"a","balance":"random","nodes":[]}],
    "access_log": {"format": "text"},
    "log_level": "loud"})");
  EXPECT_TRUE(has_error(errors, "workers: expected an integer from 0 to 256, got 1000"));
  EXPECT_TRUE(
      has_error(errors, R"(limits.max_body_size: expected a size such as 1024, "16k", "150m" or "1g", got "lots")"));
  EXPECT_TRUE(has_error(errors, R"(limits.max_header_size: expected a size from 1k to 64k, got "100")"));
  EXPECT_TRUE(has_error(
      errors, R"(timeouts.connect: expected a positive duration such as "250ms", "30s", "5m" or "1h", got "30")"));
  EXPECT_TRUE(has_error(
      errors, R"(timeouts.read: expected a positive duration such as "250ms", "30s", "5m" or "1h", got "0s")"));
  EXPECT_TRUE(has_error(errors, R"(routes[0].path_prefix: must start with "/", got "api")"));
  EXPECT_TRUE(has_error(errors, R"(routes[0].upstream: no upstream is named "nope")"));
  EXPECT_TRUE(has_error(errors, R"(upstreams[0].balance: expected "round_robin" or "least_request", got "random")"));
  EXPECT_TRUE(has_error(errors, "upstreams[0].nodes: expected at least one node"));
  EXPECT_TRUE(has_error(errors, R"(access_log.format: expected "json", got "text")"));
  EXPECT_TRUE(
      has_error(errors, R"(log_level: expected one of trace, debug, info, warn, error, critical, off, got "loud")"));
  EXPECT_EQ(errors.size(), 11u);
}

TEST(config, required_keys_are_named) {
  EXPECT_TRUE(has_error(errors_of("{}"), "upstreams: required"));
  const auto errors = errors_of(R"({"upstreams":[{"nodes":[{"address":"h:1"}]}]})");
  EXPECT_TRUE(has_error(errors, "upstreams[0].name: required"));
  EXPECT_TRUE(has_error(errors, "upstreams[0].nodes[0].name: required"));
  EXPECT_TRUE(has_error(errors_of(R"({"upstreams":[{"name":"a"}]})"), "upstreams[0].nodes: required"));
}

TEST(config, duplicate_names_are_errors) {
  const auto errors = errors_of(R"({"upstreams":[
    {"name":"a","nodes":[{"name":"n","address":"h:1"},{"name":"n","address":"h:2"}]},
    {"name":"a","nodes":[{"name":"m","address":"h:3"}]}],
    "routes":[{"path_prefix":"/","upstream":"a"},{"path_prefix":"/","upstream":"a"}]})");
  EXPECT_TRUE(has_error(errors, R"(upstreams[0].nodes[1].name: duplicate node name "n")"));
  EXPECT_TRUE(has_error(errors, R"(upstreams[1].name: duplicate upstream name "a")"));
  EXPECT_TRUE(has_error(errors, "routes[1]: another route has the same host and path_prefix"));
}

TEST(config, several_upstreams_need_explicit_routes) {
  EXPECT_TRUE(has_error(errors_of(R"({"upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]},
                                                 {"name":"b","nodes":[{"name":"n","address":"h:1"}]}]})"),
                        "routes: required when there is more than one upstream"));
}

TEST(config, sizes_accept_plain_integers) {
  const auto r = parse_config(
      R"({"limits":{"max_body_size":1048576},"upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.limits.max_body_size, 1048576u);
}

TEST(config, invalid_json_reports_the_byte_offset) {
  const auto errors = errors_of(R"({"workers": 1,,})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("(document): invalid JSON at byte 15", 0), 0u) << errors[0];
}

// Found by tests/fuzz/config_files.cpp: nlohmann throws out_of_range, not parse_error, for a number beyond a
// double's range, and it escaped parse_config (drawbridge check and serve died in std::terminate).
TEST(config, a_number_too_large_for_a_double_is_an_error_not_an_exception) {
  std::vector<std::string> errors;
  EXPECT_NO_THROW(errors = errors_of(R"({"workers": 1e400})"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("(document): invalid JSON: ", 0), 0u) << errors[0];
}

TEST(config, listener_addresses_are_validated_and_not_duplicated) {
  const auto errors =
      errors_of(R"({"listeners":[{"address":"0.0.0.0:8080"},{"address":"0.0.0.0:8080"},{"address":"8080"}],
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})");
  EXPECT_TRUE(has_error(errors, "listeners[1].address: the same address is listed twice"));
  EXPECT_TRUE(has_error(errors, R"(listeners[2].address: expected host:port, got "8080")"));
  // Port 0 as well: two listeners "127.0.0.1:0" could not be told apart by a reload or in the metrics.
  const auto zero = errors_of(R"({"listeners":[{"address":"127.0.0.1:0"},{"address":"127.0.0.1:0"}],
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})");
  EXPECT_TRUE(has_error(zero, "listeners[1].address: the same address is listed twice"));
}

TEST(config, unreadable_file_names_the_path) {
  const auto r = load_config_file("/nonexistent/drawbridge.json");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0], "/nonexistent/drawbridge.json: cannot read the config file");
}

TEST(config, shipped_example_configs_are_valid) {
  for (const char* name : {"conf/drawbridge.json", "conf/demo.json"}) {
    const auto r = load_config_file(std::string(DRAWBRIDGE_SOURCE_DIR) + "/" + name);
    EXPECT_TRUE(r.ok()) << name << ": " << (r.errors.empty() ? "" : r.errors.front());
  }
}

TEST(config, health_checks_passive_ejection_and_slow_start_are_read_per_upstream) {
  const auto result = drawbridge::conf::parse_config(R"({"upstreams":[{"name":"a",
    "health_check": {"path": "/api/v1/health", "interval": "5s", "timeout": "2s", "healthy_threshold": 2,
                     "unhealthy_threshold": 3, "start_period": "0s", "expect_status": [200, 204],
                     "expect_json": {"pointer": "/responseMeta/success", "equals": true}},
    "passive": {"max_failures": 4, "ejection_time": "20s"}, "slow_start": "30s", "min_available": 2,
    "nodes":[{"name":"n1","address":"h:1"},{"name":"n2","address":"h:2"}]}]})");
  ASSERT_TRUE(result.ok()) << result.errors[0];
  const auto& u = result.value.upstreams[0];
  EXPECT_TRUE(u.health_check.enabled);
  EXPECT_EQ(u.health_check.path, "/api/v1/health");
  EXPECT_EQ(u.health_check.interval, 5s);
  EXPECT_EQ(u.health_check.timeout, 2s);
  EXPECT_EQ(u.health_check.start_period, 0s);
  EXPECT_EQ(u.health_check.expect_status, (std::vector<unsigned>{200, 204}));
  ASSERT_TRUE(u.health_check.json_pointer);
  EXPECT_EQ(*u.health_check.json_pointer, "/responseMeta/success");
  EXPECT_EQ(u.health_check.json_equals, "true");
  EXPECT_EQ(u.passive.max_failures, 4u);
  EXPECT_EQ(u.passive.ejection_time, 20s);
  EXPECT_EQ(u.passive.max_ejection_time, 300s);
  EXPECT_EQ(u.slow_start, 30s);
  EXPECT_EQ(u.min_available, 2u);
}

TEST(config, without_a_health_check_block_active_checks_are_off_and_defaults_hold) {
  const auto result =
      drawbridge::conf::parse_config(R"({"upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})");
  ASSERT_TRUE(result.ok());
  const auto& u = result.value.upstreams[0];
  EXPECT_FALSE(u.health_check.enabled);
  EXPECT_EQ(u.passive.max_failures, 5u);
  EXPECT_EQ(u.passive.ejection_time, 30s);
  EXPECT_EQ(u.slow_start, 0s);
  EXPECT_EQ(u.min_available, 1u);
  EXPECT_FALSE(result.value.admin.enabled);
}

TEST(config, bad_health_check_and_admin_settings_name_their_path) {
  const auto errors = errors_of(R"({"upstreams":[{"name":"a","min_available": 3,
    "health_check": {"path": "health", "interval": "1s", "timeout": "2s", "healthy_threshold": 0,
                     "expect_status": [99], "expect_json": {"pointer": "x"}},
    "passive": {"ejection_time": "60s", "max_ejection_time": "10s"},
    "nodes":[{"name":"n","address":"h:1"}]}],
    "admin": {"address": "0.0.0.0:9901"}})");
  EXPECT_TRUE(has_error(errors, R"(upstreams[0].health_check.path: must start with "/", got "health")"));
  EXPECT_TRUE(has_error(errors, "upstreams[0].health_check.timeout: must not be longer than interval"));
  EXPECT_TRUE(
      has_error(errors, "upstreams[0].health_check.healthy_threshold: expected an integer from 1 to 100, got 0"));
  EXPECT_TRUE(
      has_error(errors, "upstreams[0].health_check.expect_status[0]: expected a status from 100 to 599, got 99"));
  EXPECT_TRUE(has_error(
      errors,
      R"(upstreams[0].health_check.expect_json.pointer: expected a JSON pointer such as "/responseMeta/success")"));
  EXPECT_TRUE(has_error(errors, "upstreams[0].health_check.expect_json.equals: required"));
  EXPECT_TRUE(has_error(errors, "upstreams[0].passive.max_ejection_time: must not be shorter than ejection_time"));
  EXPECT_TRUE(has_error(errors, "upstreams[0].min_available: is 3 but the upstream has 1 node(s)"));
  EXPECT_TRUE(
      has_error(errors, "admin.token_file: required when admin.address (0.0.0.0:9901) is not a loopback address"));
  EXPECT_EQ(errors.size(), 9u);
}

TEST(config, max_header_size_is_capped_at_64k_where_beast_still_holds_a_field) {
  auto with_limit = [](const std::string& size) {
    return R"({"limits": {"max_header_size": )" + size +
           R"(}, "upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})";
  };
  const auto ok = parse_config(with_limit(R"("64k")"));
  ASSERT_TRUE(ok.ok()) << ok.errors[0];
  EXPECT_EQ(ok.value.limits.max_header_size, 64u << 10);
  EXPECT_TRUE(has_error(errors_of(with_limit(R"("65k")")),
                        R"(limits.max_header_size: expected a size from 1k to 64k, got "65k")"));
  EXPECT_TRUE(has_error(errors_of(with_limit(R"("1m")")),
                        R"(limits.max_header_size: expected a size from 1k to 64k, got "1m")"));
  EXPECT_TRUE(
      has_error(errors_of(with_limit("65537")), "limits.max_header_size: expected a size from 1k to 64k, got 65537"));
}

TEST(config, an_unset_health_check_timeout_is_the_shorter_of_2s_and_the_interval) {
  auto with_check = [](const std::string& check) {
    return R"({"upstreams":[{"name":"a","health_check": )" + check + R"(, "nodes":[{"name":"n","address":"h:1"}]}]})";
  };
  auto r = parse_config(with_check(R"({"interval": "1s"})"));
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_EQ(r.value.upstreams[0].health_check.timeout, 1s);
  r = parse_config(with_check(R"({"interval": "250ms"})"));
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_EQ(r.value.upstreams[0].health_check.timeout, 250ms);
  r = parse_config(with_check(R"({"interval": "10s"})"));
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_EQ(r.value.upstreams[0].health_check.timeout, 2s);
  r = parse_config(with_check(R"({"interval": "1s", "timeout": "1s"})"));
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_EQ(r.value.upstreams[0].health_check.timeout, 1s);
  // Only a timeout written down can be too long.
  EXPECT_EQ(errors_of(with_check(R"({"interval": "1s", "timeout": "1500ms"})")),
            std::vector<std::string>{"upstreams[0].health_check.timeout: must not be longer than interval"});
}

TEST(config, an_admin_block_on_loopback_needs_no_token) {
  const auto result =
      drawbridge::conf::parse_config(R"({"upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}],
    "admin": {"address": "127.0.0.1:0"}, "state_file": "/var/lib/drawbridge/state.json"})");
  ASSERT_TRUE(result.ok()) << result.errors[0];
  EXPECT_TRUE(result.value.admin.enabled);
  EXPECT_EQ(result.value.admin.address.port, 0);
  EXPECT_EQ(result.value.state_file, "/var/lib/drawbridge/state.json");
}

TEST(config, tls_listeners_redirects_and_upstream_tls_are_read) {
  const auto result = parse_config(R"({"listeners":[
      {"address":"0.0.0.0:80","redirect_https":true},
      {"address":"0.0.0.0:443","tls":{"certificates":[{"cert":"a.pem","key":"a.key"},{"cert":"b.pem","key":"b.key"}],
                                      "min_version":"1.3","hsts":"max-age=31536000"}}],
    "upstreams":[{"name":"a","tls":{"ca_file":"ca.pem","sni":"app.internal"},"nodes":[{"name":"n","address":"h:443"}]}]})");
  ASSERT_TRUE(result.ok()) << result.errors[0];
  const auto& l = result.value.listeners;
  EXPECT_TRUE(l[0].redirect_https);
  EXPECT_FALSE(l[0].tls);
  ASSERT_TRUE(l[1].tls);
  EXPECT_EQ(l[1].tls->certificates.size(), 2u);
  EXPECT_EQ(l[1].tls->certificates[1].key, "b.key");
  EXPECT_EQ(l[1].tls->min_version, "1.3");
  EXPECT_EQ(l[1].tls->hsts, "max-age=31536000");
  EXPECT_FALSE(l[1].tls->ciphers.empty());
  const auto& t = result.value.upstreams[0].tls;
  EXPECT_TRUE(t.enabled);
  EXPECT_TRUE(t.verify);
  EXPECT_EQ(t.ca_file, "ca.pem");
  EXPECT_EQ(t.sni, "app.internal");
}

TEST(config, bad_tls_settings_name_their_path) {
  const auto errors = errors_of(R"({"listeners":[
      {"address":"0.0.0.0:443","redirect_https":true,"tls":{"certificates":[{"cert":"a.pem"}],"min_version":"1.1"}},
      {"address":"0.0.0.0:444","tls":{"certificates":[]}}],
    "upstreams":[{"name":"a","tls":{"client_cert":"c.pem"},"nodes":[{"name":"n","address":"h:443"}]}]})");
  EXPECT_TRUE(has_error(errors, "listeners[0].tls.certificates[0].key: required"));
  EXPECT_TRUE(has_error(errors, R"(listeners[0].tls.min_version: expected "1.2" or "1.3", got "1.1")"));
  EXPECT_TRUE(has_error(errors, "listeners[0].redirect_https: only for a plain listener (this one has tls)"));
  EXPECT_TRUE(has_error(errors, "listeners[1].tls.certificates: expected at least one certificate"));
  EXPECT_TRUE(has_error(errors, "upstreams[0].tls.client_key: client_cert and client_key go together"));
  EXPECT_EQ(errors.size(), 5u);
}

TEST(config, gzip_is_off_without_its_block_and_read_with_it) {
  EXPECT_FALSE(parse_config(minimal).value.gzip.enabled);
  const auto r = parse_config(R"({"gzip":{"types":["Application/JSON","text/css"],"min_length":"2k","level":6},
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})");
  ASSERT_TRUE(r.errors.empty()) << r.errors.front();
  EXPECT_TRUE(r.value.gzip.enabled);
  EXPECT_EQ(r.value.gzip.types, (std::vector<std::string>{"application/json", "text/css"}));
  EXPECT_EQ(r.value.gzip.min_length, 2048u);
  EXPECT_EQ(r.value.gzip.gzip_level, 6);
  EXPECT_EQ(r.value.gzip.zstd_level, 3);  // every coding on by default, at its own default level
  EXPECT_EQ(r.value.gzip.br_level, 4);
  EXPECT_FALSE(
      parse_config(R"({"gzip":{"enabled":false},"upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})")
          .value.gzip.enabled);
}

TEST(config, bad_gzip_settings_name_their_path) {
  const auto errors = errors_of(R"({"gzip":{"types":["json", 3, "text/html; charset=utf-8"],"level":0,"zip":1},
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})");
  EXPECT_TRUE(has_error(
      errors, R"(gzip.types[0]: expected a media type such as "application/json" (no parameters), got "json")"));
  EXPECT_TRUE(has_error(errors, R"(gzip.types[1]: expected a media type such as "application/json", got a number)"));
  EXPECT_TRUE(has_error(
      errors,
      R"(gzip.types[2]: expected a media type such as "application/json" (no parameters), got "text/html; charset=utf-8")"));
  EXPECT_TRUE(has_error(errors, "gzip.level: expected an integer from 1 to 9, got 0"));
  EXPECT_EQ(errors.size(), 5u) << ::testing::PrintToString(errors);  // and the unknown key "zip"
}

TEST(config, gzip_encodings_lists_the_codings_on_each_with_its_level) {
  const auto r = parse_config(R"({"gzip":{"encodings":{"br":11,"gzip":9}},
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})");
  ASSERT_TRUE(r.errors.empty()) << r.errors.front();
  EXPECT_EQ(r.value.gzip.zstd_level, std::nullopt);  // not listed: off
  EXPECT_EQ(r.value.gzip.br_level, 11);
  EXPECT_EQ(r.value.gzip.gzip_level, 9);

  const auto errors = errors_of(R"({"gzip":{"level":2,"encodings":{"zstd":20,"br":-1,"gzip":"fast","lzma":1}},
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})");
  EXPECT_TRUE(has_error(errors, "gzip.level: give gzip's level in gzip.encodings.gzip instead, not both"));
  EXPECT_TRUE(has_error(errors, "gzip.encodings.zstd: expected an integer from 1 to 19, got 20"));
  EXPECT_TRUE(has_error(errors, "gzip.encodings.br: expected an integer from 0 to 11, got -1"));
  EXPECT_TRUE(has_error(errors, "gzip.encodings.gzip: expected an integer, got a string"));
  EXPECT_EQ(errors.size(), 5u) << ::testing::PrintToString(errors);  // and the unknown key "lzma"
  EXPECT_TRUE(has_error(
      errors_of(R"({"gzip":{"encodings":{}},
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})"),
      R"(gzip.encodings: expected at least one of "zstd", "br", "gzip" ("enabled": false turns compression off))"));
}

TEST(config, tunnel_idle_defaults_to_five_minutes_and_is_read) {
  EXPECT_EQ(parse_config(minimal).value.timeouts.tunnel_idle, std::chrono::seconds(300));
  const auto r = parse_config(
      R"({"timeouts":{"tunnel_idle":"90s"},"upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})");
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.value.timeouts.tunnel_idle, std::chrono::seconds(90));
  EXPECT_TRUE(has_error(
      errors_of(
          R"({"timeouts":{"tunnel_idle":"soon"},"upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})"),
      R"(timeouts.tunnel_idle: expected a positive duration such as "250ms", "30s", "5m" or "1h", got "soon")"));
}

TEST(config, trusted_proxies_are_read_as_networks) {
  const auto r = parse_config(R"({"trusted_proxies":["10.0.0.0/8","::1/128","127.0.0.1","192.168.7.9/16","fd00::/8"],
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})");
  ASSERT_TRUE(r.errors.empty()) << r.errors.front();
  std::vector<std::string> read;
  for (const auto& n : r.value.trusted_proxies) read.push_back(to_string(n));
  EXPECT_EQ(read, (std::vector<std::string>{"10.0.0.0/8", "::1/128", "127.0.0.1/32", "192.168.0.0/16", "fd00::/8"}));
}

TEST(config, bad_trusted_proxies_name_their_index) {
  const auto errors = errors_of(R"({"trusted_proxies":["10.0.0.0/8","x","10.0.0.0/33",5,"::1/129","1.2.3","10.0.0.0/"],
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})");
  EXPECT_TRUE(has_error(errors, R"(trusted_proxies[1]: expected an IP address or CIDR, got "x")"));
  EXPECT_TRUE(has_error(errors, R"(trusted_proxies[2]: expected an IP address or CIDR, got "10.0.0.0/33")"));
  EXPECT_TRUE(has_error(errors, R"(trusted_proxies[3]: expected an IP address or CIDR, got 5)"));
  EXPECT_TRUE(has_error(errors, R"(trusted_proxies[4]: expected an IP address or CIDR, got "::1/129")"));
  EXPECT_TRUE(has_error(errors, R"(trusted_proxies[5]: expected an IP address or CIDR, got "1.2.3")"));
  EXPECT_TRUE(has_error(errors, R"(trusted_proxies[6]: expected an IP address or CIDR, got "10.0.0.0/")"));
  EXPECT_EQ(errors.size(), 6u) << ::testing::PrintToString(errors);
  EXPECT_TRUE(has_error(
      errors_of(
          R"({"trusted_proxies":"10.0.0.0/8","upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})"),
      "trusted_proxies: expected an array, got a string"));
}

TEST(config, access_log_query_is_read) {
  const auto r = parse_config(
      R"({"access_log":{"query":false},"upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})");
  ASSERT_TRUE(r.errors.empty()) << r.errors.front();
  EXPECT_FALSE(r.value.access_log.query);
  EXPECT_TRUE(has_error(
      errors_of(R"({"access_log":{"query":"no"},"upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:1"}]}]})"),
      "access_log.query: expected true or false, got a string"));
}

TEST(config, version_affinity_is_off_unless_configured_and_read_with_its_defaults) {
  const auto off = parse_config(minimal);
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off.value.upstreams[0].version_affinity.enabled);
  const auto on = parse_config(
      R"({"upstreams":[{"name":"a","version_affinity":{},"nodes":[{"name":"n0","address":"10.0.0.1:80"}]}]})");
  ASSERT_TRUE(on.ok()) << on.errors.front();
  const auto& v = on.value.upstreams[0].version_affinity;
  EXPECT_TRUE(v.enabled);
  EXPECT_EQ(v.header, "X-Appsmith-Version");
  EXPECT_EQ(v.cookie, "drawbridge_version");
  EXPECT_EQ(v.learn_path, "");
  const auto full = parse_config(R"({"upstreams":[{"name":"a","version_affinity":{"header":"X-Build","cookie":"build",
      "learn_from":{"path":"/info","pointer":"/version"}},"nodes":[{"name":"n0","address":"10.0.0.1:80"}]}]})");
  ASSERT_TRUE(full.ok()) << full.errors.front();
  EXPECT_EQ(full.value.upstreams[0].version_affinity.header, "X-Build");
  EXPECT_EQ(full.value.upstreams[0].version_affinity.cookie, "build");
  EXPECT_EQ(full.value.upstreams[0].version_affinity.learn_path, "/info");
  EXPECT_EQ(full.value.upstreams[0].version_affinity.learn_pointer, "/version");
}

TEST(config, a_bad_version_affinity_names_its_json_path) {
  auto errors = [](const std::string& block) {
    return errors_of(R"({"upstreams":[{"name":"a","version_affinity":)" + block +
                     R"(,"nodes":[{"name":"n0","address":"10.0.0.1:80"}]}]})");
  };
  EXPECT_TRUE(has_error(errors(R"({"header":"X Version"})"),
                        "upstreams[0].version_affinity.header: expected a header name, got \"X Version\""));
  EXPECT_TRUE(has_error(errors(R"({"cookie":"a;b"})"),
                        "upstreams[0].version_affinity.cookie: expected a cookie name, got \"a;b\""));
  EXPECT_TRUE(has_error(errors(R"({"learn_from":{"path":"info","pointer":"/version"}})"),
                        "upstreams[0].version_affinity.learn_from.path: must start with \"/\", got \"info\""));
  EXPECT_TRUE(has_error(errors(R"({"learn_from":{"path":"/info"}})"),
                        "upstreams[0].version_affinity.learn_from.pointer: required"));
  EXPECT_TRUE(
      has_error(errors(R"({"learn_from":{"path":"/info","pointer":"version"}})"),
                "upstreams[0].version_affinity.learn_from.pointer: expected a JSON pointer such as \"/version\""));
  EXPECT_TRUE(has_error(errors(R"({"sticky":true})"), "upstreams[0].version_affinity.sticky: unknown key"));
  EXPECT_TRUE(has_error(errors("true"), "upstreams[0].version_affinity: expected an object, got a boolean"));
}

TEST(config, http2_settings_alpn_and_h2c_are_read_with_their_defaults) {
  const auto defaults = parse_config(minimal);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults.value.http2.max_concurrent_streams, 128u);
  EXPECT_EQ(defaults.value.http2.initial_window_size, 256ull << 10);
  EXPECT_EQ(defaults.value.http2.max_header_list_size, 16ull << 10);
  EXPECT_EQ(defaults.value.http2.max_frame_size, 16ull << 10);
  EXPECT_FALSE(defaults.value.listeners[0].h2c);

  const auto r = parse_config(R"({"listeners":[{"address":"0.0.0.0:80","h2c":true},
      {"address":"0.0.0.0:443","tls":{"certificates":[{"cert":"a.pem","key":"a.key"}],"alpn":["http/1.1"]}},
      {"address":"0.0.0.0:8443","tls":{"certificates":[{"cert":"a.pem","key":"a.key"}]}}],
    "http2":{"max_concurrent_streams":64,"initial_window_size":"1m","max_header_list_size":"32k","max_frame_size":"32k"},
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:80"}]}]})");
  ASSERT_TRUE(r.ok()) << r.errors.front();
  const auto& l = r.value.listeners;
  EXPECT_TRUE(l[0].h2c);
  EXPECT_EQ(l[1].tls->alpn, (std::vector<std::string>{"http/1.1"}));
  EXPECT_EQ(l[2].tls->alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(r.value.http2.max_concurrent_streams, 64u);
  EXPECT_EQ(r.value.http2.initial_window_size, 1ull << 20);
  EXPECT_EQ(r.value.http2.max_header_list_size, 32ull << 10);
  EXPECT_EQ(r.value.http2.max_frame_size, 32ull << 10);
}

TEST(config, bad_http2_settings_alpn_and_h2c_name_their_json_path) {
  const auto errors = errors_of(R"({"listeners":[
      {"address":"0.0.0.0:443","h2c":true,"tls":{"certificates":[{"cert":"a.pem","key":"a.key"}],
       "alpn":["h2","spdy/3","h2"]}},
      {"address":"0.0.0.0:444","tls":{"certificates":[{"cert":"a.pem","key":"a.key"}],"alpn":[]}}],
    "http2":{"max_concurrent_streams":0,"initial_window_size":"4g","max_frame_size":"1k","priority":true},
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"h:80"}]}]})");
  EXPECT_TRUE(has_error(errors, R"(listeners[0].tls.alpn[1]: expected "h2" or "http/1.1", got "spdy/3")"));
  EXPECT_TRUE(has_error(errors, R"(listeners[0].tls.alpn[2]: "h2" is listed twice)"));
  EXPECT_TRUE(has_error(errors, "listeners[1].tls.alpn: expected at least one protocol"));
  EXPECT_TRUE(
      has_error(errors, "listeners[0].h2c: only for a plain listener (a TLS listener offers h2 by ALPN: tls.alpn)"));
  EXPECT_TRUE(std::any_of(errors.begin(), errors.end(),
                          [](const std::string& e) { return e.starts_with("http2.max_concurrent_streams: "); }));
  EXPECT_TRUE(std::any_of(errors.begin(), errors.end(),
                          [](const std::string& e) { return e.starts_with("http2.initial_window_size: "); }));
  EXPECT_TRUE(std::any_of(errors.begin(), errors.end(),
                          [](const std::string& e) { return e.starts_with("http2.max_frame_size: "); }));
  EXPECT_TRUE(std::any_of(errors.begin(), errors.end(),
                          [](const std::string& e) { return e.starts_with("http2.priority: "); }));
}

TEST(config, acme_is_read_with_its_defaults_and_makes_certificates_optional) {
  const auto parsed = parse_config(R"({"listeners": [{"address": "0.0.0.0:80"}, {"address": "0.0.0.0:443", "tls":
      {"acme": {"directory": "https://ca.test/dir", "email": "ops@example.com", "domains": ["Appsmith.Example.com", "b.example.com"],
                "storage": "/var/lib/drawbridge/acme", "renew_before": "20d", "ca_file": null, "eab": null}}}],
      "upstreams": [{"name": "a", "nodes": [{"name": "n", "address": "10.0.0.1:80"}]}]})");
  ASSERT_TRUE(parsed.errors.empty()) << parsed.errors.front();
  const auto& acme = parsed.value.listeners[1].tls->acme;
  ASSERT_TRUE(acme.has_value());
  EXPECT_TRUE(parsed.value.listeners[1].tls->certificates.empty());
  EXPECT_EQ(acme->directory, "https://ca.test/dir");
  EXPECT_EQ(acme->domains, (std::vector<std::string>{"appsmith.example.com", "b.example.com"}));
  EXPECT_EQ(acme->challenge, "http-01");
  EXPECT_EQ(acme->renew_before, std::chrono::hours(24 * 20));
  EXPECT_TRUE(acme->ca_file.empty());
  EXPECT_FALSE(acme->eab.has_value());
}

TEST(config, bad_acme_settings_name_their_json_path) {
  const auto errors = errors_of(R"({"listeners": [{"address": "0.0.0.0:443", "tls": {"acme": {
      "directory": "http://ca.test/dir", "email": "not an address", "domains": ["*.example.com", "a..b", "ok.test", "ok.test"],
      "challenge": "dns-01", "storage": "", "renew_before": "soon", "eab": {"kid": "", "hmac_key": "no spaces allowed"}}}},
      {"address": "0.0.0.0:444", "tls": {"acme": {"directory": "https://ca.test/dir", "domains": ["a.test"], "storage": "/s"}}}],
      "upstreams": [{"name": "a", "nodes": [{"name": "n", "address": "10.0.0.1:80"}]}]})");
  const std::string p = "listeners[0].tls.acme.";
  for (const auto& expected :
       {p + "directory: expected an https:// URL (RFC 8555 speaks HTTPS only), got \"http://ca.test/dir\"",
        p + "email: expected one address such as ops@example.com, got \"not an address\"",
        p + "domains[0]: a wildcard needs the dns-01 challenge, which drawbridge does not answer",
        p + "domains[1]: expected a DNS name such as appsmith.example.com, got \"a..b\"",
        p + "domains[3]: \"ok.test\" is listed twice",
        p + "challenge: expected \"http-01\" or \"tls-alpn-01\", got \"dns-01\"", p + "storage: must not be empty",
        p + "renew_before: expected a positive duration such as \"250ms\", \"30s\", \"5m\" or \"1h\", got \"soon\"",
        p + "eab.kid: required (a non-empty string)",
        p + "eab.hmac_key: expected the key as the CA gives it: base64url",
        // No plain listener for the CA to come to on port 80 (the default challenge is http-01).
        std::string("listeners[1].tls.acme.challenge: http-01 is answered on a plain listener (the CA connects to port "
                    "80), and none is configured: add one, or use tls-alpn-01")})
    EXPECT_TRUE(has_error(errors, expected)) << expected;
  EXPECT_TRUE(has_error(errors_of(R"({"listeners": [{"address": "0.0.0.0:443", "tls": {}}],
      "upstreams": [{"name": "a", "nodes": [{"name": "n", "address": "10.0.0.1:80"}]}]})"),
                        "listeners[0].tls.certificates: required (or acme)"));
}
