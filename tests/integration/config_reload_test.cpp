// Config reload on the real binary (issue 18): SIGHUP, POST /v1/config/reload and `drawbridge reload`
// re-read the file given to `serve` and apply it whole, keeping open connections, node state and counts;
// a config that is wrong changes nothing and says why.

#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include "tests/support/fake_node.hpp"
#include "tests/support/keepalive_load.hpp"
#include "tests/support/metrics_scrape.hpp"
#include "tests/support/notify_socket.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/scratch_dir.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"
#include "tests/support/websocket_nodes.hpp"

using namespace drawbridge::testing;
namespace http = boost::beast::http;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

struct node_entry {
  std::string name;
  std::uint16_t port;
  unsigned weight = 1;
};

json upstream(const std::string& name, const std::vector<node_entry>& nodes) {
  json list = json::array();
  for (const auto& n : nodes)
    list.push_back({{"name", n.name}, {"address", "127.0.0.1:" + std::to_string(n.port)}, {"weight", n.weight}});
  return {{"name", name}, {"nodes", list}};
}

// One listener and the admin API on 127.0.0.1:0, upstream "app" over `nodes` (routed to by "/" unless
// `extra` says otherwise), and `extra` merged in last (RFC 7386: an array in it replaces the whole array).
std::string config_json(const std::vector<node_entry>& nodes, const json& extra = json::object()) {
  json config = {{"workers", 1},
                 {"listeners", {{{"address", "127.0.0.1:0"}}}},
                 {"access_log", {{"path", "off"}}},
                 {"admin", {{"address", "127.0.0.1:0"}}},
                 {"timeouts", {{"shutdown_grace", "5s"}}},
                 {"log_level", "info"},
                 {"upstreams", json::array({upstream("app", nodes)})}};
  config.merge_patch(extra);
  return config.dump();
}

void rewrite(const spawned_proxy& proxy, const std::string& text) {
  std::ofstream out(proxy.config_path(), std::ios::trunc);
  out << text;
}

std::string node_of(const http_response& r) {
  if (r.status != 200) return "status " + std::to_string(r.status) + " " + r.error;
  return json::parse(r.body)["node"];
}

json info(std::uint16_t admin_port) {
  test_client admin(admin_port);
  const auto res = admin.get("/v1/info");
  return json::parse(res.body, nullptr, false);
}

// Lines in a file (an access log), 0 when it is missing.
long lines_in(const std::string& file) {
  std::ifstream in(file);
  return std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n');
}

http_response reload(std::uint16_t admin_port) {
  test_client admin(admin_port);
  return admin.request(http::verb::post, "/v1/config/reload");
}

}  // namespace

TEST(config_reload, adds_a_node_and_a_route_keeping_the_connection_and_the_counts) {
  fake_node a({.name = "a"}), b({.name = "b"}), c({.name = "c"});
  spawned_proxy proxy(config_json({{"node1", a.port()}}));
  ASSERT_TRUE(proxy.started()) << proxy.output();
  const auto before = info(proxy.admin_port());
  EXPECT_EQ(before["config"]["generation"], 0);
  EXPECT_EQ(before["config"]["path"], proxy.config_path());
  EXPECT_EQ(before["pid"], proxy.pid());

  test_client kept(proxy.port());
  ASSERT_EQ(node_of(kept.get("/x")), "a");

  // node2 joins "app"; "/other/" goes to a new upstream.
  const std::vector<node_entry> both = {{"node1", a.port()}, {"node2", b.port()}};
  rewrite(proxy, config_json(both, {{"upstreams", {upstream("app", both), upstream("other", {{"c1", c.port()}})}},
                                    {"routes", json::array({json{{"path_prefix", "/other/"}, {"upstream", "other"}},
                                                            json{{"path_prefix", "/"}, {"upstream", "app"}}})}}));
  const auto res = reload(proxy.admin_port());
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(json::parse(res.body)["generation"], 1);

  // The same connection: both nodes of "app" answer now, and the new route leads to the new upstream.
  // (This test failed once in a full run on a loaded machine, without its output; both the node set and
  // the count below now wait on their condition instead: up to 300 requests for node2 to show, and for the
  // worker to count the last request, which it does after the client may already have the answer.)
  std::set<std::string> seen;
  int app_requests = 1;
  for (int i = 0; i < 6 || (seen.size() < 2 && i < 300); ++i) {
    const auto r = kept.get("/x");
    EXPECT_TRUE(r.keep_alive);
    seen.insert(node_of(r));
    ++app_requests;
  }
  EXPECT_EQ(seen, (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(node_of(kept.get("/other/y")), "c");
  EXPECT_EQ(a.connections() + b.connections() + c.connections(), 3u);  // pooled: one connection each

  const auto after = info(proxy.admin_port());
  EXPECT_EQ(after["config"]["generation"], 1);
  EXPECT_NE(after["config"]["sha256"], before["config"]["sha256"]);
  EXPECT_EQ(after["started_at"], before["started_at"]);
  // Counts went on across both runtimes: the requests to "app" and 1 to "other".
  EXPECT_TRUE(wait_for([&] {
    return scraped_sum(proxy.admin_port(), "drawbridge_requests_total").value_or(-1) == app_requests + 1;
  })) << scraped_sum(proxy.admin_port(), "drawbridge_requests_total").value_or(-1)
      << " counted, not " << app_requests + 1;
  EXPECT_EQ(scraped_sum(proxy.admin_port(), "drawbridge_config_generation").value_or(-1), 1);
}

TEST(config_reload, a_wrong_config_is_refused_with_every_problem_and_changes_nothing) {
  fake_node a({.name = "a"});
  spawned_proxy proxy(config_json({{"node1", a.port()}}));
  ASSERT_TRUE(proxy.started()) << proxy.output();
  test_client kept(proxy.port());
  ASSERT_EQ(node_of(kept.get("/x")), "a");

  // Two problems at once: both are named, with their JSON paths.
  rewrite(proxy, config_json({{"node1", a.port()}},
                             {{"timeouts", {{"connect", "soon"}}}, {"limits", {{"max_connections", "many"}}}}));
  const auto res = reload(proxy.admin_port());
  ASSERT_EQ(res.status, 400u) << res.body;
  const auto body = json::parse(res.body);
  EXPECT_EQ(body["error"]["code"], "invalid_config");
  EXPECT_EQ(body["generation"], 0);
  const auto problems = body["error"]["problems"].dump();
  EXPECT_NE(problems.find("timeouts.connect"), std::string::npos) << problems;
  EXPECT_NE(problems.find("limits.max_connections"), std::string::npos) << problems;
  // What only a restart can change is refused the same way.
  rewrite(proxy, config_json({{"node1", a.port()}}, {{"workers", 2}}));
  const auto fixed = reload(proxy.admin_port());
  EXPECT_EQ(fixed.status, 400u) << fixed.body;
  EXPECT_NE(fixed.body.find("workers: read once at start-up"), std::string::npos) << fixed.body;

  EXPECT_EQ(node_of(kept.get("/x")), "a");
  EXPECT_EQ(info(proxy.admin_port())["config"]["generation"], 0);
  EXPECT_EQ(scraped_sum(proxy.admin_port(), "drawbridge_config_reloads_total").value_or(-1), 2);
  EXPECT_TRUE(wait_for([&] { return proxy.log().find("config reload refused") != std::string::npos; })) << proxy.log();
}

TEST(config_reload, sighup_reloads_and_a_drained_node_stays_drained_with_its_new_weight) {
  fake_node a({.name = "a"}), b({.name = "b"});
  spawned_proxy proxy(config_json({{"node1", a.port()}, {"node2", b.port()}}));
  ASSERT_TRUE(proxy.started()) << proxy.output();
  test_client admin(proxy.admin_port());
  ASSERT_EQ(admin.request(http::verb::post, "/v1/upstreams/app/nodes/node2/drain?wait=5s").status, 200u);

  rewrite(proxy, config_json({{"node1", a.port(), 3}, {"node2", b.port(), 7}}));
  ASSERT_EQ(::kill(proxy.pid(), SIGHUP), 0);
  ASSERT_TRUE(wait_for([&] { return info(proxy.admin_port())["config"]["generation"] == 1; })) << proxy.log();

  const auto node2 = json::parse(admin.get("/v1/upstreams/app/nodes/node2").body);
  EXPECT_EQ(node2["state"], "drained");
  EXPECT_EQ(node2["weight"], 7);
  test_client client(proxy.port());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(node_of(client.get("/x")), "a");
}

TEST(config_reload, a_node_left_out_finishes_its_request_then_leaves) {
  fake_node a({.name = "a"}), b({.name = "b"});
  spawned_proxy proxy(config_json({{"node1", a.port()}, {"node2", b.port()}}));
  ASSERT_TRUE(proxy.started()) << proxy.output();
  // A slow request on node2 (round robin: the second request of a connection goes there).
  test_client first(proxy.port());
  ASSERT_EQ(node_of(first.get("/x")), "a");
  test_client slow(proxy.port());
  auto in_flight = std::async(std::launch::async, [&] { return slow.get("/slow?delay_ms=800"); });
  ASSERT_TRUE(wait_for([&] { return b.requests() + b.open_connections() > 0; }));

  rewrite(proxy, config_json({{"node1", a.port()}}));
  const auto res = reload(proxy.admin_port());
  ASSERT_EQ(res.status, 200u) << res.body;
  test_client admin(proxy.admin_port());
  // Not listed any more, and no new request goes there, while the one under way completes.
  const auto listing = json::parse(admin.get("/v1/upstreams/app").body);
  EXPECT_EQ(listing["nodes"].size(), 1u) << listing.dump();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(node_of(first.get("/x")), "a");
  const auto answered = in_flight.get();
  EXPECT_EQ(answered.status, 200u) << answered.error;
  EXPECT_EQ(node_of(answered), "b");
  EXPECT_TRUE(wait_for([&] { return proxy.log().find("node node2 removed from upstream app") != std::string::npos; }))
      << proxy.log();
}

TEST(config_reload, the_reload_command_prints_the_generation_or_the_problems) {
  fake_node a({.name = "a"});
  spawned_proxy proxy(config_json({{"node1", a.port()}}));
  ASSERT_TRUE(proxy.started()) << proxy.output();
  const auto url = "http://127.0.0.1:" + std::to_string(proxy.admin_port());
  const auto ok = run_drawbridge({"reload", "--admin", url});
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
  EXPECT_NE(ok.out.find("generation 1"), std::string::npos) << ok.out;

  rewrite(proxy, "{\"listeners\": [");
  const auto bad = run_drawbridge({"reload", "--admin", url});
  EXPECT_EQ(bad.exit_code, 1) << bad.out;
  EXPECT_NE(bad.out.find("reload refused (400 invalid_config)"), std::string::npos) << bad.out;
  EXPECT_EQ(info(proxy.admin_port())["config"]["generation"], 1);
}

TEST(config_reload, sigusr1_reopens_the_access_log_that_logrotate_moved) {
  fake_node a({.name = "a"});
  const auto path = write_temp_file("", ".log");
  spawned_proxy proxy(config_json({{"node1", a.port()}}, {{"access_log", {{"path", path}}}}));
  ASSERT_TRUE(proxy.started()) << proxy.output();
  test_client client(proxy.port());
  ASSERT_EQ(client.get("/before").status, 200u);
  ASSERT_TRUE(wait_for([&] { return lines_in(path) == 1; }));
  const auto rotated = path + ".1";
  ASSERT_EQ(std::rename(path.c_str(), rotated.c_str()), 0);
  ASSERT_EQ(::kill(proxy.pid(), SIGUSR1), 0);
  ASSERT_TRUE(wait_for([&] { return proxy.log().find("access log reopened") != std::string::npos; })) << proxy.log();
  ASSERT_EQ(client.get("/after").status, 200u);
  EXPECT_TRUE(wait_for([&] { return lines_in(path) == 1; })) << lines_in(path);
  EXPECT_EQ(lines_in(rotated), 1);
  std::remove(path.c_str());
  std::remove(rotated.c_str());
}

TEST(config_reload, ten_reloads_and_a_binary_upgrade_under_load_fail_no_request_and_keep_the_websocket_tunnel) {
  successor_guard successor;  // the upgrade's new process, stopped at the end
  fake_node a({.name = "a"}), b({.name = "b"}), c({.name = "c"});
  echo_node ws_node;
  const auto log_one = write_temp_file("", ".log");
  const auto log_two = write_temp_file("", ".log");
  // Two configs in turn: the second adds node3, changes a weight, adds a route and moves the access log.
  auto config = [&](bool second) {
    std::vector<node_entry> app = {{"node1", a.port(), second ? 3u : 1u}, {"node2", b.port()}};
    if (second) app.push_back({"node3", c.port()});
    auto route = [](const char* prefix, const char* to) { return json{{"path_prefix", prefix}, {"upstream", to}}; };
    json routes = json::array({route("/rts/", "rts"), route("/", "app")});
    if (second) routes.insert(routes.begin(), route("/extra/", "app"));
    auto app_upstream = upstream("app", app);  // with health checks: nodes new to a reload wait for theirs
    app_upstream["health_check"] = {{"path", "/api/v1/health"},
                                    {"interval", "100ms"},
                                    {"timeout", "100ms"},
                                    {"expect_json", {{"pointer", "/responseMeta/success"}, {"equals", true}}}};
    return config_json(app, {{"upstreams", {app_upstream, upstream("rts", {{"ws1", ws_node.port()}})}},
                             {"routes", routes},
                             {"access_log", {{"path", second ? log_two : log_one}}}});
  };
  spawned_proxy proxy(config(false));
  ASSERT_TRUE(proxy.started()) << proxy.output();
  ASSERT_TRUE(wait_for([&] {
    test_client admin(proxy.admin_port());
    return admin.get("/readyz").status == 200;
  }));

  namespace net = boost::asio;
  namespace websocket = boost::beast::websocket;
  net::io_context ioc;
  websocket::stream<net::ip::tcp::socket> ws(ioc);
  ws.next_layer().connect({net::ip::make_address("127.0.0.1"), proxy.port()});
  ws.handshake("app.test", "/rts/socket");
  auto echoes = [&](const std::string& text) {
    ws.write(net::buffer(text));
    boost::beast::flat_buffer echo;
    ws.read(echo);
    return boost::beast::buffers_to_string(echo.data()) == text;
  };
  ASSERT_TRUE(echoes("before"));

  keepalive_load load(proxy.port(), 4);
  for (int i = 1; i <= 10; ++i) {
    // Some traffic between two reloads (a condition, not a sleep).
    const auto before = load.gets() + load.posts();
    ASSERT_TRUE(wait_for([&] { return load.gets() + load.posts() >= before + 200; })) << load.failures();
    rewrite(proxy, config(i % 2 == 1));
    const auto res = reload(proxy.admin_port());
    ASSERT_EQ(res.status, 200u) << res.body;
    EXPECT_EQ(json::parse(res.body)["generation"], i);
    if (i == 1) {
      const auto at_node3 = c.requests();
      EXPECT_TRUE(wait_for([&] { return c.requests() > at_node3; })) << "node3 got no request after it was added";
    }
  }
  const auto before = load.gets() + load.posts();
  ASSERT_TRUE(wait_for([&] { return load.gets() + load.posts() >= before + 20; }));
  EXPECT_TRUE(echoes("after ten reloads"));
  EXPECT_EQ(info(proxy.admin_port())["config"]["generation"], 10);

  // Then the binary: the new process takes the sockets, the old one finishes and exits.
  const auto upgraded = test_client(proxy.admin_port()).request(http::verb::post, "/v1/upgrade");
  ASSERT_EQ(upgraded.status, 200u) << upgraded.body;
  successor.pid = json::parse(upgraded.body)["pid"].get<pid_t>();
  EXPECT_NE(successor.pid, proxy.pid());
  EXPECT_TRUE(echoes("the old process still carries its tunnel"));
  // At the end of its grace (5 s here) the old process closes the tunnel with 1001, and exits 0.
  boost::beast::flat_buffer frame;
  boost::system::error_code ws_ec;
  ws.read(frame, ws_ec);
  EXPECT_EQ(ws_ec, websocket::error::closed) << ws_ec.message();
  EXPECT_EQ(ws.reason().code, websocket::close_code::going_away);
  EXPECT_EQ(proxy.wait_exit(10s), 0);
  const auto after = load.gets() + load.posts();
  ASSERT_TRUE(wait_for([&] { return load.gets() + load.posts() >= after + 200; })) << load.failures();
  load.stop();

  EXPECT_EQ(load.failed_gets() + load.failed_posts(), 0u) << load.failures();
  EXPECT_GT(load.posts(), 0u);
  const auto now = info(proxy.admin_port());
  EXPECT_EQ(now.value("pid", 0L), successor.pid);
  EXPECT_EQ(now["config"]["generation"], 0);  // a new process: its own count
  EXPECT_GT(c.requests(), 0u);
  // Both access logs got lines: the path moved with every reload.
  EXPECT_TRUE(wait_for([&] { return lines_in(log_one) > 0 && lines_in(log_two) > 0; }))
      << lines_in(log_one) << " " << lines_in(log_two);
  std::remove(log_one.c_str());
  std::remove(log_two.c_str());
}

TEST(config_reload, serve_keeps_a_pid_file_and_tells_the_service_manager_ready_reloading_and_stopping) {
  fake_node a({.name = "a"});
  scratch_dir dir;
  notify_socket manager(dir.file("notify"));
  ASSERT_TRUE(manager.bound());
  const auto pid_path = dir.file("drawbridge.pid");
  spawned_proxy proxy(config_json({{"node1", a.port()}}), -1, {"--pid-file", pid_path});
  ASSERT_TRUE(proxy.started()) << proxy.output();
  EXPECT_EQ(manager.receive(), "READY=1\nSTATUS=serving, config generation 0");
  long pid = 0;
  std::ifstream(pid_path) >> pid;
  EXPECT_EQ(pid, proxy.pid());

  ASSERT_EQ(::kill(proxy.pid(), SIGHUP), 0);
  EXPECT_TRUE(manager.receive().starts_with("RELOADING=1\nMONOTONIC_USEC="));
  EXPECT_EQ(manager.receive(), "READY=1\nSTATUS=serving, config generation 1");

  EXPECT_EQ(proxy.terminate(), 0);
  EXPECT_EQ(manager.receive(), "STOPPING=1");
  EXPECT_FALSE(std::ifstream(pid_path).good());  // removed at exit
}

namespace {

// The port of the listener a reload added on ::1, from its "listening on" line; 0 until it shows.
std::uint16_t added_ipv6_port(const spawned_proxy& proxy) {
  static constexpr std::string_view marker = "listening on ::1:";
  const auto log = proxy.log();
  const auto at = log.find(marker);
  if (at == std::string::npos) return 0;
  return static_cast<std::uint16_t>(std::stoi(log.substr(at + marker.size(), 5)));
}

// GET / to [::1]:port, one request; the status line's code, 0 when nothing answered.
unsigned get_over_ipv6(std::uint16_t port) {
  namespace net = boost::asio;
  net::io_context ioc;
  net::ip::tcp::socket socket(ioc);
  boost::system::error_code ec;
  socket.connect({net::ip::make_address("::1"), port}, ec);
  if (ec) return 0;
  const std::string request = "GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n";
  net::write(socket, net::buffer(request), ec);
  std::string answer;
  char chunk[4096];
  for (;;) {
    const auto n = socket.read_some(net::buffer(chunk), ec);
    answer.append(chunk, n);
    if (ec) break;
  }
  return first_status(answer);
}

// Whether this host has an IPv6 loopback to listen on.
bool have_ipv6_loopback() {
  boost::asio::io_context ioc;
  boost::system::error_code ec;
  boost::asio::ip::tcp::acceptor probe(ioc);
  probe.open(boost::asio::ip::tcp::v6(), ec);
  if (!ec) probe.bind({boost::asio::ip::make_address("::1"), 0}, ec);
  return !ec;
}

// Open descriptors of a process.
std::size_t open_fds(pid_t pid) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
    ++n;
  return n;
}

json listeners(std::initializer_list<json> list) {
  json out = json::array();
  for (const auto& l : list) out.push_back(l);
  return out;
}

}  // namespace

TEST(config_reload, a_listener_added_accepts_and_one_removed_finishes_its_connection_s_request_then_closes) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1 on this host";
  fake_node a({.name = "a"});
  spawned_proxy proxy(config_json({{"node1", a.port()}}));
  ASSERT_TRUE(proxy.started()) << proxy.output();
  test_client kept(proxy.port());
  ASSERT_EQ(node_of(kept.get("/x")), "a");

  // Added: [::1]:0, bound by the reload in every worker before it answered.
  const auto both = listeners({{{"address", "127.0.0.1:0"}}, {{"address", "[::1]:0"}}});
  rewrite(proxy, config_json({{"node1", a.port()}}, {{"listeners", both}}));
  auto res = reload(proxy.admin_port());
  ASSERT_EQ(res.status, 200u) << res.body;
  std::uint16_t added = 0;
  ASSERT_TRUE(wait_for([&] { return (added = added_ipv6_port(proxy)) != 0; })) << proxy.log();
  EXPECT_EQ(get_over_ipv6(added), 200u);
  const auto still = kept.get("/x");  // the kept listener's connection goes on
  EXPECT_EQ(node_of(still), "a");
  EXPECT_TRUE(still.keep_alive);

  // Removed: 127.0.0.1. The idle connection's next request is answered, with Connection: close, and the
  // address takes no new connection.
  rewrite(proxy, config_json({{"node1", a.port()}}, {{"listeners", listeners({{{"address", "[::1]:0"}}})}}));
  res = reload(proxy.admin_port());
  ASSERT_EQ(res.status, 200u) << res.body;
  const auto last = kept.get("/x");
  EXPECT_EQ(node_of(last), "a");
  EXPECT_FALSE(last.keep_alive);
  EXPECT_TRUE(wait_for([&] { return !test_client(proxy.port()).connected(); }));
  EXPECT_EQ(get_over_ipv6(added), 200u);
  EXPECT_EQ(info(proxy.admin_port())["config"]["generation"], 2);
}

TEST(config_reload, a_changed_listener_applies_to_the_next_request_of_an_open_connection) {
  fake_node a({.name = "a"});
  spawned_proxy proxy(config_json({{"node1", a.port()}}));
  ASSERT_TRUE(proxy.started()) << proxy.output();
  test_client kept(proxy.port());
  ASSERT_EQ(node_of(kept.get("/x")), "a");
  rewrite(proxy, config_json({{"node1", a.port()}},
                             {{"listeners", listeners({{{"address", "127.0.0.1:0"}, {"redirect_https", true}}})}}));
  const auto res = reload(proxy.admin_port());
  ASSERT_EQ(res.status, 200u) << res.body;
  const auto redirected = kept.get("/x");  // the same connection: same address, same kind, new settings
  EXPECT_EQ(redirected.status, 308u);
  EXPECT_TRUE(redirected.keep_alive);
  test_client fresh(proxy.port());  // and a new one, accepted under the changed listener
  EXPECT_EQ(fresh.get("/x").status, 308u);
}

TEST(config_reload, two_reloads_before_a_worker_looked_at_the_first_keep_the_listener_the_second_added) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1 on this host";
  fake_node a({.name = "a"});
  spawned_proxy proxy(config_json({{"node1", a.port()}}));
  ASSERT_TRUE(proxy.started()) << proxy.output();
  // Back to back, no traffic between them (a worker looks at a new runtime at its 50 ms tick or at a
  // request): the first changes a weight, the second adds a listener, the third changes that listener
  // (which binds nothing: the address is there already).
  rewrite(proxy, config_json({{"node1", a.port(), 2}}));
  ASSERT_EQ(reload(proxy.admin_port()).status, 200u);
  rewrite(proxy, config_json({{"node1", a.port(), 2}},
                             {{"listeners", listeners({{{"address", "127.0.0.1:0"}}, {{"address", "[::1]:0"}}})}}));
  ASSERT_EQ(reload(proxy.admin_port()).status, 200u);
  rewrite(proxy, config_json({{"node1", a.port(), 2}},
                             {{"listeners", listeners({{{"address", "127.0.0.1:0"}},
                                                       {{"address", "[::1]:0"}, {"redirect_https", true}}})}}));
  ASSERT_EQ(reload(proxy.admin_port()).status, 200u);
  std::uint16_t added = 0;
  ASSERT_TRUE(wait_for([&] { return (added = added_ipv6_port(proxy)) != 0; })) << proxy.log();
  EXPECT_EQ(get_over_ipv6(added), 308u);
}

TEST(config_reload, a_listener_address_in_use_rolls_the_whole_reload_back_with_500) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no ::1 on this host";
  fake_node a({.name = "a"}), b({.name = "b"});
  spawned_proxy proxy(config_json({{"node1", a.port()}}));
  ASSERT_TRUE(proxy.started()) << proxy.output();
  // Someone else's socket (without SO_REUSEPORT) holds the port the new config wants.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor taken(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = taken.local_endpoint().port();
  const auto fds = open_fds(proxy.pid());
  // The first new listener binds, the second cannot: the first one's sockets are closed again.
  const auto wanted = listeners(
      {{{"address", "127.0.0.1:0"}}, {{"address", "[::1]:0"}}, {{"address", "127.0.0.1:" + std::to_string(port)}}});
  rewrite(proxy, config_json({{"node1", a.port()}, {"node2", b.port()}}, {{"listeners", wanted}}));
  const auto res = reload(proxy.admin_port());
  ASSERT_EQ(res.status, 500u) << res.body;
  const auto body = json::parse(res.body);
  EXPECT_EQ(body["error"]["code"], "reload_failed");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("listeners[2].address: cannot listen on 127.0.0.1:" +
                                                             std::to_string(port) + ": Address already in use"),
            std::string::npos)
      << res.body;
  // Nothing of it applies: not node2 either, and no socket is left open.
  EXPECT_EQ(info(proxy.admin_port())["config"]["generation"], 0);
  EXPECT_TRUE(wait_for([&] { return open_fds(proxy.pid()) == fds; })) << open_fds(proxy.pid()) << " vs " << fds;
  test_client client(proxy.port());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(node_of(client.get("/x")), "a");
}
