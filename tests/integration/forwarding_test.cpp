// Routing, balancing and header handling through a real proxy on loopback.

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "proxy/request_id.hpp"
#include "tests/support/fake_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge::testing;
namespace http = boost::beast::http;
using json = nlohmann::json;

namespace {
struct three_nodes {
  fake_node a{{"node1"}}, b{{"node2"}}, c{{"node3"}};
  std::vector<std::uint16_t> ports() const { return {a.port(), b.port(), c.port()}; }
};
}  // namespace

TEST(forwarding, round_robin_spreads_requests_evenly_across_nodes) {
  three_nodes nodes;
  proxy_under_test proxy(nodes.ports());
  test_client client(proxy.port());
  std::map<std::string, int> seen;
  for (int i = 0; i < 30; ++i) {
    const auto res = client.get("/anything");
    ASSERT_EQ(res.status, 200u) << res.error;
    ++seen[json::parse(res.body)["node"].get<std::string>()];
  }
  EXPECT_EQ(seen, (std::map<std::string, int>{{"node1", 10}, {"node2", 10}, {"node3", 10}}));
}

TEST(forwarding, least_request_avoids_the_node_with_a_request_in_flight) {
  three_nodes nodes;
  auto config = test_config(nodes.ports());
  config.upstreams[0].balance = drawbridge::conf::balance_kind::least_request;
  config.upstreams[0].nodes.pop_back();  // two nodes: both are compared on every pick
  proxy_under_test proxy(config);
  std::string slow_node;
  std::thread slow([&] {
    test_client c(proxy.port());
    slow_node = json::parse(c.get("/slow?delay_ms=1500").body)["node"].get<std::string>();
  });
  // Wait until the slow request is in flight on one of the nodes.
  const auto& group = *proxy.rt().upstreams[0];
  ASSERT_TRUE(wait_for([&] { return group.nodes()->at(0)->in_flight + group.nodes()->at(1)->in_flight == 1; }));
  const std::string busy = group.nodes()->at(0)->in_flight == 1 ? "node1" : "node2";
  test_client client(proxy.port());
  for (int i = 0; i < 10; ++i) EXPECT_NE(json::parse(client.get("/x").body)["node"], busy);
  slow.join();
  EXPECT_EQ(slow_node, busy);
}

TEST(forwarding, forwarding_headers_are_set_and_host_is_kept) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client client(proxy.port());
  const auto res = client.request(http::verb::get, "/api/v1/users?x=1", {},
                                  {{"Host", "app.example.com"},
                                   {"X-Forwarded-For", "203.0.113.9"},
                                   {"X-Appsmith-Version", "v1.9.3"},
                                   {"Cookie", "SESSION=abc"},
                                   {"Connection", "keep-alive, X-Drop-Me"},
                                   {"X-Drop-Me", "secret"},
                                   {"Keep-Alive", "timeout=5"},
                                   {"Proxy-Authorization", "Basic eA=="}});
  ASSERT_EQ(res.status, 200u) << res.error;
  const auto seen = json::parse(res.body);
  const auto& h = seen["headers"];
  EXPECT_EQ(seen["path"], "/api/v1/users?x=1");
  EXPECT_EQ(h["Host"], "app.example.com");
  EXPECT_EQ(h["X-Forwarded-For"], "127.0.0.1");  // the client is not a trusted proxy: its list is replaced
  EXPECT_EQ(h["X-Forwarded-Proto"], "http");
  EXPECT_EQ(h["X-Forwarded-Host"], "app.example.com");
  EXPECT_EQ(h["X-Appsmith-Version"], "v1.9.3");
  EXPECT_EQ(h["Cookie"], "SESSION=abc");
  for (const char* gone : {"X-Drop-Me", "Keep-Alive", "Proxy-Authorization", "Connection"})
    EXPECT_FALSE(h.contains(gone)) << gone;
}

namespace {
// A request from a client posing as a proxy: an address, a scheme and a host of its choosing.
const std::vector<std::pair<std::string, std::string>> spoofing_headers = {
    {"Host", "app.example.com"},
    {"X-Forwarded-For", "203.0.113.9"},
    {"Forwarded", "for=203.0.113.9;proto=https;host=evil.example"},
    {"X-Real-IP", "203.0.113.9"},
    {"X-Forwarded-Port", "443"},
    {"X-Forwarded-Prefix", "/evil"},
    {"X-Forwarded-Proto", "https"},
    {"X-Forwarded-Host", "evil.example"},
    {"Proxy", "http://evil.example:3128"}};
}  // namespace

TEST(forwarding, an_untrusted_peers_forwarding_headers_are_replaced_or_removed) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});  // trusted_proxies empty: 127.0.0.1 is a client like any other
  test_client client(proxy.port());
  const auto res = client.request(http::verb::get, "/x", {}, spoofing_headers);
  ASSERT_EQ(res.status, 200u) << res.error;
  const auto body = json::parse(res.body);
  const auto& h = body["headers"];
  EXPECT_EQ(h["X-Forwarded-For"], "127.0.0.1");
  EXPECT_EQ(h["X-Forwarded-Proto"], "http");
  EXPECT_EQ(h["X-Forwarded-Host"], "app.example.com");
  for (const char* gone : {"Forwarded", "X-Real-IP", "X-Forwarded-Port", "X-Forwarded-Prefix", "Proxy"})
    EXPECT_FALSE(h.contains(gone)) << gone;
}

TEST(forwarding, a_trusted_peers_forwarding_headers_are_kept_and_x_forwarded_for_appended) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.trusted_proxies = {*drawbridge::conf::parse_ip_network("10.0.0.0/8"),
                            *drawbridge::conf::parse_ip_network("127.0.0.1/32")};
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  const auto res = client.request(http::verb::get, "/x", {}, spoofing_headers);
  ASSERT_EQ(res.status, 200u) << res.error;
  const auto body = json::parse(res.body);
  const auto& h = body["headers"];
  EXPECT_EQ(h["X-Forwarded-For"], "203.0.113.9, 127.0.0.1");
  EXPECT_EQ(h["Forwarded"], "for=203.0.113.9;proto=https;host=evil.example");
  EXPECT_EQ(h["X-Real-IP"], "203.0.113.9");
  EXPECT_EQ(h["X-Forwarded-Port"], "443");
  EXPECT_EQ(h["X-Forwarded-Prefix"], "/evil");
  EXPECT_EQ(h["X-Forwarded-Proto"], "https");  // the proxy in front knows the client's scheme
  EXPECT_EQ(h["X-Forwarded-Host"], "evil.example");
  EXPECT_FALSE(h.contains("Proxy"));  // httpoxy: removed whoever sends it
}

TEST(forwarding, a_trusted_peer_list_without_the_peer_trusts_nothing_it_says) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.trusted_proxies = {*drawbridge::conf::parse_ip_network("127.0.0.2/32")};
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  const auto res = client.request(http::verb::get, "/x", {}, spoofing_headers);
  ASSERT_EQ(res.status, 200u) << res.error;
  const auto body = json::parse(res.body);
  const auto& h = body["headers"];
  EXPECT_EQ(h["X-Forwarded-For"], "127.0.0.1");
  EXPECT_FALSE(h.contains("Forwarded"));
}

TEST(forwarding, request_id_is_generated_sent_to_the_node_and_returned) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client client(proxy.port());
  const auto res = client.get("/x");
  const std::string id(res.headers["X-Request-Id"]);
  EXPECT_TRUE(drawbridge::proxy::is_valid_uuid(id)) << id;
  EXPECT_EQ(json::parse(res.body)["headers"]["X-Request-Id"], id);
  const auto second = client.get("/x");
  EXPECT_NE(std::string(second.headers["X-Request-Id"]), id);
}

TEST(forwarding, valid_incoming_request_id_is_kept_and_invalid_one_replaced) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client client(proxy.port());
  const std::string mine = "6f9619ff-8b86-4d11-b42d-00c04fc964ff";
  auto res = client.request(http::verb::get, "/x", {}, {{"X-Request-Id", mine}});
  EXPECT_EQ(res.headers["X-Request-Id"], mine);
  EXPECT_EQ(json::parse(res.body)["headers"]["X-Request-Id"], mine);
  res = client.request(http::verb::get, "/x", {}, {{"X-Request-Id", "<script>"}});
  const std::string replaced(res.headers["X-Request-Id"]);
  EXPECT_TRUE(drawbridge::proxy::is_valid_uuid(replaced)) << replaced;
  EXPECT_EQ(json::parse(res.body)["headers"]["X-Request-Id"], replaced);
}

TEST(forwarding, no_route_answers_404_with_a_json_body) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.routes = {{std::nullopt, "/api", "app"}};
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  const auto res = client.get("/static/app.js");
  EXPECT_EQ(res.status, 404u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "no_route");
  EXPECT_EQ(res.headers[http::field::content_type], "application/json");
  EXPECT_EQ(node.requests(), 0u);
  EXPECT_EQ(client.get("/api/x").status, 200u);  // the connection survived the 404
}

TEST(forwarding, routes_choose_the_upstream_by_host_and_longest_prefix) {
  fake_node web({"web"}), api({"api"}), admin({"admin"});
  auto config = test_config({web.port()});
  auto api_up = config.upstreams[0];
  api_up.name = "api";
  api_up.nodes[0].address.port = api.port();
  auto admin_up = config.upstreams[0];
  admin_up.name = "admin";
  admin_up.nodes[0].address.port = admin.port();
  config.upstreams.push_back(api_up);
  config.upstreams.push_back(admin_up);
  config.routes = {{std::nullopt, "/", "app"}, {std::nullopt, "/api", "api"}, {"admin.example", "/", "admin"}};
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  EXPECT_EQ(json::parse(client.get("/index.html").body)["node"], "web");
  EXPECT_EQ(json::parse(client.get("/api/v1/x").body)["node"], "api");
  EXPECT_EQ(json::parse(client.get("/apiary").body)["node"], "web");
  const auto res = client.request(http::verb::get, "/api/v1/x", {}, {{"Host", "Admin.Example:8080"}});
  EXPECT_EQ(json::parse(res.body)["node"], "admin");
}

TEST(forwarding, absolute_form_target_is_routed_locally_and_forwarded_in_origin_form) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  const auto raw = raw_exchange(proxy.port(),
                                "GET http://evil.example:9999/steal?x=1 HTTP/1.1\r\nHost: app\r\n"
                                "Connection: close\r\n\r\n");
  ASSERT_EQ(first_status(raw.received), 200u) << raw.received;
  const auto body = json::parse(raw.received.substr(raw.received.find("\r\n\r\n") + 4));
  EXPECT_EQ(body["node"], "node1");  // our node, never evil.example
  EXPECT_EQ(body["path"], "/steal?x=1");
  EXPECT_EQ(body["headers"]["Host"], "evil.example:9999");
}

TEST(forwarding, http_1_0_client_gets_an_http_1_0_answer_and_a_close) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  const auto raw = raw_exchange(proxy.port(), "GET /x HTTP/1.0\r\n\r\n");
  EXPECT_EQ(raw.received.substr(0, 12), "HTTP/1.0 200");
  EXPECT_FALSE(raw.timed_out);  // closed by the proxy, as HTTP/1.0 without keep-alive wants
}

TEST(forwarding, http_1_0_keep_alive_is_honoured) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  const auto raw = raw_exchange(proxy.port(),
                                "GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                "GET /y HTTP/1.0\r\n\r\n");
  EXPECT_NE(raw.received.find("Connection: keep-alive"), std::string::npos);
  EXPECT_NE(raw.received.find("\"path\":\"/y\""), std::string::npos) << raw.received;
}

TEST(forwarding, head_response_has_headers_and_no_body) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client client(proxy.port());
  const auto head = client.request(http::verb::head, "/x?bytes=5000");
  EXPECT_EQ(head.status, 200u) << head.error;
  EXPECT_EQ(head.headers[http::field::content_length], "5000");
  EXPECT_TRUE(head.body.empty());
  const auto after = client.get("/x");  // the connection is still in sync
  EXPECT_EQ(after.status, 200u) << after.error;
}

TEST(forwarding, node_status_codes_and_bodies_pass_through) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client client(proxy.port());
  const auto res = client.get("/x?status=418");
  EXPECT_EQ(res.status, 418u);
  EXPECT_EQ(json::parse(res.body)["node"], "node1");
  EXPECT_EQ(res.headers["X-Node"], "node1");
}

TEST(forwarding, node_addresses_may_be_host_names_resolved_at_start_up) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.upstreams[0].nodes[0].address.host = "localhost";
  proxy_under_test proxy(config);
  ASSERT_FALSE(proxy.rt().upstreams[0]->nodes()->at(0)->endpoints().empty());
  test_client client(proxy.port());
  const auto res = client.get("/x");
  EXPECT_EQ(res.status, 200u) << res.error;
  EXPECT_EQ(json::parse(res.body)["node"], "node1");
}
