// The admin API: listing, drain and undrain with their waits, min_available, adding and removing nodes,
// tokens, the refusals that keep browsers and oversized requests out, and the state file that carries
// admin state across a restart.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/fake_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/scratch_dir.hpp"
#include "tests/support/test_client.hpp"
#include "upstream/state_store.hpp"

using namespace drawbridge;
using namespace drawbridge::testing;
namespace http = boost::beast::http;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

http_response post(test_client& admin, const std::string& target, std::string body = {}) {
  if (body.empty()) return admin.request(http::verb::post, target);
  return admin.request(http::verb::post, target, std::move(body), {{"Content-Type", "application/json"}});
}

std::string code_of(const http_response& res) {
  const auto body = json::parse(res.body, nullptr, false);
  return body.is_object() && body.contains("error") ? body["error"].value("code", "") : "";
}

// Sends `head`, then `total` bytes of 'x', while reading what comes back; writing stops at the first error
// (the server closed). Reading ends when the server closes or `limit` passes.
struct streamed_result {
  std::string received;
  bool closed = false;   // the server ended the connection (FIN or reset) before `limit`
  std::size_t sent = 0;  // bytes of 'x' written
};
streamed_result stream_request(std::uint16_t port, const std::string& head, std::size_t total,
                               std::chrono::milliseconds limit) {
  streamed_result result;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return result;
  }
  timeval tick{0, 200'000};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tick, sizeof tick);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> sent{0};
  std::thread writer([&] {
    if (::send(fd, head.data(), head.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(head.size())) return;
    const std::string filler(64 * 1024, 'x');
    while (!stop && sent < total) {
      const auto n = ::send(fd, filler.data(), std::min(filler.size(), total - sent), MSG_NOSIGNAL);
      if (n > 0)
        sent += static_cast<std::size_t>(n);
      else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        return;
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      result.received.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      result.closed = true;
      break;
    }
  }
  stop = true;
  writer.join();
  result.sent = sent;
  ::close(fd);
  return result;
}

std::string node_of(const http_response& res) {
  if (res.status != 200) return "status " + std::to_string(res.status);
  return json::parse(res.body)["node"].get<std::string>();
}

void wait_until_all_eligible(proxy_under_test& proxy) {
  ASSERT_TRUE(wait_for([&] {
    for (const auto& n : *proxy.rt().upstreams[0]->nodes())
      if (!n->eligible()) return false;
    return true;
  }));
}

}  // namespace

TEST(admin_api, lists_upstreams_and_nodes_with_their_state_and_counters) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}));
  wait_until_all_eligible(proxy);
  test_client client(proxy.port());
  client.get("/x");
  test_client admin(proxy.admin_port());
  const auto res = admin.get("/v1/upstreams");
  ASSERT_EQ(res.status, 200u);
  EXPECT_EQ(res.headers[http::field::content_type], "application/json");
  const auto body = json::parse(res.body);
  ASSERT_EQ(body["upstreams"].size(), 1u);
  const auto& u = body["upstreams"][0];
  EXPECT_EQ(u["name"], "app");
  EXPECT_EQ(u["min_available"], 1);
  ASSERT_EQ(u["nodes"].size(), 2u);
  const auto& n = u["nodes"][0];
  for (const char* key : {"name", "address", "weight", "admin_state", "health", "state", "in_flight", "requests_total",
                          "failures_total", "last_check"})
    EXPECT_TRUE(n.contains(key)) << key;
  EXPECT_EQ(n["name"], "node1");
  EXPECT_EQ(n["address"], "127.0.0.1:" + std::to_string(a.port()));
  EXPECT_EQ(n["state"], "active");
  EXPECT_EQ(n["admin_state"], "ready");
  EXPECT_EQ(n["health"], "healthy");
  EXPECT_EQ(n["requests_total"], 1);
  EXPECT_EQ(json::parse(admin.get("/v1/upstreams/app").body)["nodes"].size(), 2u);
  EXPECT_EQ(json::parse(admin.get("/v1/upstreams/app/nodes/node2").body)["name"], "node2");
}

TEST(admin_api, unknown_names_bad_parameters_and_wrong_methods_are_refused) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}));
  test_client admin(proxy.admin_port());
  auto res = admin.get("/v1/upstreams/nope");
  EXPECT_EQ(res.status, 404u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "not_found");
  EXPECT_EQ(post(admin, "/v1/upstreams/app/nodes/nope/drain").status, 404u);
  res = post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=soon");
  EXPECT_EQ(res.status, 400u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "bad_request");
  EXPECT_EQ(post(admin, "/v1/upstreams/app/nodes/node1/drain?force=maybe").status, 400u);
  res = admin.get("/v1/upstreams/app/nodes/node1/drain");
  EXPECT_EQ(res.status, 405u);
  EXPECT_EQ(res.headers[http::field::allow], "POST");
  EXPECT_EQ(admin.request(http::verb::put, "/v1/upstreams/app").status, 405u);
  EXPECT_EQ(admin.get("/v2/whatever").status, 404u);
  EXPECT_EQ(proxy.node(0).admin, upstream::admin_state::ready);  // nothing refused changed anything
}

TEST(drain, a_drained_node_gets_no_new_requests_while_its_in_flight_request_completes) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}, false));
  // Round robin sends the first request to node1: a slow one, in flight during the drain.
  auto slow = std::async(std::launch::async, [&] {
    test_client c(proxy.port());
    return c.get("/slow?delay_ms=700");
  });
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).in_flight == 1; }));
  auto drained = std::async(std::launch::async, [&] {
    test_client admin(proxy.admin_port());
    return post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=5s");
  });
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).admin == upstream::admin_state::draining; }));
  test_client client(proxy.port());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(node_of(client.get("/x")), "b");
  EXPECT_EQ(drained.wait_for(0ms), std::future_status::timeout);  // still waiting for the slow request
  const auto slow_res = slow.get();
  EXPECT_EQ(slow_res.status, 200u);
  EXPECT_EQ(node_of(slow_res), "a");
  const auto res = drained.get();
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(json::parse(res.body)["state"], "drained");
  EXPECT_EQ(json::parse(res.body)["in_flight"], 0);
}

TEST(drain, without_wait_it_answers_202_and_a_wait_that_runs_out_answers_504) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}, false));
  auto slow = std::async(std::launch::async, [&] {
    test_client c(proxy.port());
    return c.get("/slow?delay_ms=1500");
  });
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).in_flight == 1; }));
  test_client admin(proxy.admin_port());
  auto res = post(admin, "/v1/upstreams/app/nodes/node1/drain");
  EXPECT_EQ(res.status, 202u);
  EXPECT_EQ(json::parse(res.body)["state"], "draining");
  res = post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=200ms");
  EXPECT_EQ(res.status, 504u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "timeout");
  EXPECT_EQ(proxy.node(0).admin, upstream::admin_state::draining);
  EXPECT_EQ(slow.get().status, 200u);
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).admin == upstream::admin_state::drained; }));
}

TEST(drain, draining_below_min_available_is_refused_with_409_unless_forced) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}, false));
  test_client admin(proxy.admin_port());
  EXPECT_EQ(post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=1s").status, 200u);
  auto res = post(admin, "/v1/upstreams/app/nodes/node2/drain");
  EXPECT_EQ(res.status, 409u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "min_available");
  EXPECT_EQ(proxy.node(1).admin, upstream::admin_state::ready);
  test_client client(proxy.port());
  EXPECT_EQ(node_of(client.get("/x")), "b");
  res = post(admin, "/v1/upstreams/app/nodes/node2/drain?force=true&wait=1s");
  EXPECT_EQ(res.status, 200u);
  EXPECT_EQ(client.get("/x").status, 503u);
}

TEST(undrain, a_node_comes_back_only_after_its_health_checks_pass) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}));
  wait_until_all_eligible(proxy);
  test_client admin(proxy.admin_port());
  ASSERT_EQ(post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=1s").status, 200u);
  auto res = post(admin, "/v1/upstreams/app/nodes/node1/undrain?wait=5s");
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(json::parse(res.body)["state"], "active");
  test_client client(proxy.port());
  std::map<std::string, int> seen;
  for (int i = 0; i < 10; ++i) ++seen[node_of(client.get("/x"))];
  EXPECT_EQ(seen, (std::map<std::string, int>{{"a", 5}, {"b", 5}}));
}

TEST(undrain, a_node_that_stays_unhealthy_never_receives_traffic) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}));
  wait_until_all_eligible(proxy);
  test_client admin(proxy.admin_port());
  ASSERT_EQ(post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=1s").status, 200u);
  a.set_healthy(false);  // the upgrade went wrong
  const auto before = a.requests();
  auto res = post(admin, "/v1/upstreams/app/nodes/node1/undrain?wait=400ms");
  EXPECT_EQ(res.status, 504u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "timeout");
  const auto node = json::parse(admin.get("/v1/upstreams/app/nodes/node1").body);
  EXPECT_EQ(node["admin_state"], "ready");
  EXPECT_NE(node["state"], "active");
  test_client client(proxy.port());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(node_of(client.get("/x")), "b");
  // Only health checks reached node a since the undrain.
  EXPECT_EQ(proxy.node(0).requests_total, 0u);
  EXPECT_GT(a.requests(), before);
}

TEST(nodes, a_node_added_through_the_api_warms_up_then_takes_requests_and_a_removed_one_leaves) {
  fake_node a({"a"}), c({"c"});
  proxy_under_test proxy(admin_test_config({a.port()}));
  wait_until_all_eligible(proxy);
  test_client admin(proxy.admin_port());
  auto res = post(admin, "/v1/upstreams/app/nodes",
                  R"({"name":"node3","address":"127.0.0.1:)" + std::to_string(c.port()) + R"(","weight":1})");
  ASSERT_EQ(res.status, 201u) << res.body;
  EXPECT_EQ(json::parse(res.body)["state"], "warming");
  EXPECT_EQ(post(admin, "/v1/upstreams/app/nodes", R"({"name":"node3","address":"127.0.0.1:1"})").status, 409u);
  EXPECT_EQ(post(admin, "/v1/upstreams/app/nodes", R"({"name":"bad name","address":"127.0.0.1:1"})").status, 400u);
  EXPECT_EQ(post(admin, "/v1/upstreams/app/nodes", R"({"name":"x","address":"nowhere"})").status, 400u);
  EXPECT_EQ(post(admin, "/v1/upstreams/app/nodes", "not json").status, 400u);
  wait_until_all_eligible(proxy);
  test_client client(proxy.port());
  std::map<std::string, int> seen;
  for (int i = 0; i < 10; ++i) ++seen[node_of(client.get("/x"))];
  EXPECT_EQ(seen, (std::map<std::string, int>{{"a", 5}, {"c", 5}}));

  res = admin.request(http::verb::delete_, "/v1/upstreams/app/nodes/node3?wait=2s");
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(json::parse(res.body)["removed"], "node3");
  EXPECT_EQ(admin.get("/v1/upstreams/app/nodes/node3").status, 404u);
  EXPECT_EQ(proxy.rt().upstreams[0]->nodes()->size(), 1u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(node_of(client.get("/x")), "a");
  // Removing the last node would break min_available.
  EXPECT_EQ(admin.request(http::verb::delete_, "/v1/upstreams/app/nodes/node1").status, 409u);
}

TEST(tokens, every_v1_call_needs_the_bearer_token_but_health_endpoints_stay_open) {
  fake_node a({"a"}), b({"b"});
  auto config = admin_test_config({a.port(), b.port()}, false);
  config.admin.token_file = write_temp_file("# operators\nops:s3cret-token\nci:another-one\n", ".tokens");
  proxy_under_test proxy(config);
  // A refused call ends its connection: each gets a fresh one.
  auto refused = [&](http::verb method, const std::string& target, const std::string& authorization) {
    test_client fresh(proxy.admin_port());
    std::vector<std::pair<std::string, std::string>> headers;
    if (!authorization.empty()) headers.emplace_back("Authorization", authorization);
    auto res = fresh.request(method, target, {}, headers);
    EXPECT_FALSE(res.keep_alive);
    return res;
  };
  auto res = refused(http::verb::get, "/v1/upstreams", "");
  EXPECT_EQ(res.status, 401u);
  EXPECT_EQ(json::parse(res.body)["error"]["code"], "unauthorized");
  EXPECT_EQ(refused(http::verb::get, "/v1/upstreams", "Bearer wrong").status, 401u);
  EXPECT_EQ(refused(http::verb::post, "/v1/upstreams/app/nodes/node1/drain", "Bearer s3cret-toke").status, 401u);
  // Every path under /v1/, even one that is no endpoint: nothing to learn without a token.
  EXPECT_EQ(refused(http::verb::get, "/v1/whatever", "").status, 401u);
  EXPECT_EQ(proxy.node(0).admin, upstream::admin_state::ready);
  test_client admin(proxy.admin_port());
  EXPECT_EQ(admin.request(http::verb::get, "/v1/upstreams", {}, {{"Authorization", "Bearer s3cret-token"}}).status,
            200u);
  EXPECT_EQ(admin
                .request(http::verb::post, "/v1/upstreams/app/nodes/node1/drain", {},
                         {{"Authorization", "bearer another-one"}})
                .status,
            202u);
  EXPECT_EQ(admin.get("/healthz").status, 200u);
  EXPECT_EQ(admin.get("/readyz").status, 200u);
}

TEST(state_file, a_drained_node_stays_drained_across_a_restart_and_added_nodes_come_back) {
  fake_node a({"a"}), b({"b"}), c({"c"});
  auto config = admin_test_config({a.port(), b.port()}, false);
  config.state_file = write_temp_file("", ".state");
  ::unlink(config.state_file.c_str());  // a first start: no file yet
  {
    proxy_under_test proxy(config);
    test_client admin(proxy.admin_port());
    ASSERT_EQ(post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=1s").status, 200u);
    ASSERT_EQ(post(admin, "/v1/upstreams/app/nodes",
                   R"({"name":"node3","address":"127.0.0.1:)" + std::to_string(c.port()) + R"("})")
                  .status,
              201u);
  }
  proxy_under_test restarted(config);
  EXPECT_EQ(restarted.node(0).admin, upstream::admin_state::drained);
  ASSERT_EQ(restarted.rt().upstreams[0]->nodes()->size(), 3u);
  EXPECT_EQ(restarted.node(2).name(), "node3");
  test_client client(restarted.port());
  std::map<std::string, int> seen;
  for (int i = 0; i < 10; ++i) ++seen[node_of(client.get("/x"))];
  EXPECT_EQ(seen, (std::map<std::string, int>{{"b", 5}, {"c", 5}}));
}

TEST(slow_start, an_undrained_node_ramps_up_instead_of_taking_its_full_share_at_once) {
  fake_node a({"a"}), b({"b"});
  auto config = admin_test_config({a.port(), b.port()}, false);
  config.upstreams[0].slow_start = 1500ms;
  proxy_under_test proxy(config);
  test_client admin(proxy.admin_port());
  ASSERT_EQ(post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=1s").status, 200u);
  const auto res = post(admin, "/v1/upstreams/app/nodes/node1/undrain?wait=1s");
  ASSERT_EQ(res.status, 200u);  // takes requests again at once (no health checks configured)...
  EXPECT_EQ(json::parse(res.body)["state"], "warming");  // ...but only a growing share of them
  test_client client(proxy.port());
  std::map<std::string, int> seen;
  for (int i = 0; i < 20; ++i) ++seen[node_of(client.get("/x"))];
  EXPECT_LE(seen["a"], 5);
  EXPECT_EQ(seen["a"] + seen["b"], 20);
  ASSERT_TRUE(
      wait_for([&] { return json::parse(admin.get("/v1/upstreams/app/nodes/node1").body)["state"] == "active"; }));
  seen.clear();
  for (int i = 0; i < 20; ++i) ++seen[node_of(client.get("/x"))];
  EXPECT_EQ(seen, (std::map<std::string, int>{{"a", 10}, {"b", 10}}));
}

TEST(admin_api, a_path_with_invalid_utf8_gets_an_answer_not_a_hang) {
  fake_node a({"a"});
  proxy_under_test proxy(admin_test_config({a.port()}, false));
  const auto raw = raw_exchange(
      proxy.admin_port(),
      "POST /v1/upstreams/\xff\xfe/nodes/x/drain HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 2000ms);
  EXPECT_EQ(first_status(raw.received), 404u) << raw.received;
  EXPECT_FALSE(raw.timed_out);
}

TEST(undrain, undraining_a_node_that_is_already_in_rotation_changes_nothing) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}));
  wait_until_all_eligible(proxy);
  test_client admin(proxy.admin_port());
  const auto res = post(admin, "/v1/upstreams/app/nodes/node1/undrain");
  EXPECT_EQ(res.status, 202u);
  EXPECT_EQ(json::parse(res.body)["state"], "active");
  EXPECT_TRUE(proxy.node(0).eligible());  // its health was not reset
}

TEST(admin_http, a_chunk_extension_that_never_ends_gets_413_and_the_connection_closes) {
  fake_node a({"a"});
  proxy_under_test proxy(admin_test_config({a.port()}, false));
  // The chunk-size line of a chunked body, its extension growing without end: before the fix the server
  // buffered all of it and never answered.
  const auto r = stream_request(proxy.admin_port(),
                                "POST /v1/upstreams/app/nodes HTTP/1.1\r\nHost: localhost\r\n"
                                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=",
                                16u << 20, 5000ms);
  EXPECT_EQ(first_status(r.received), 413u) << r.received;
  EXPECT_NE(r.received.find("too_large"), std::string::npos) << r.received;
  EXPECT_TRUE(r.closed);
  EXPECT_LT(r.sent, 16u << 20);  // the server stopped reading long before
  EXPECT_EQ(proxy.rt().upstreams[0]->nodes()->size(), 1u);
}

TEST(admin_http, endless_trailers_get_413_and_a_body_over_64k_is_refused_unread) {
  fake_node a({"a"});
  proxy_under_test proxy(admin_test_config({a.port()}, false));
  auto r = stream_request(proxy.admin_port(),
                          "POST /v1/upstreams/app/nodes HTTP/1.1\r\nHost: localhost\r\n"
                          "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: ",
                          16u << 20, 5000ms);
  EXPECT_EQ(first_status(r.received), 413u) << r.received;
  EXPECT_TRUE(r.closed);
  // A Content-Length over 64 KiB is answered at once, the body never sent.
  const auto raw = raw_exchange(proxy.admin_port(),
                                "POST /v1/upstreams/app/nodes HTTP/1.1\r\nHost: localhost\r\n"
                                "Content-Type: application/json\r\nContent-Length: 65537\r\n\r\n",
                                3000ms);
  EXPECT_EQ(first_status(raw.received), 413u) << raw.received;
  EXPECT_FALSE(raw.timed_out);
  // A chunked body that crosses 64 KiB.
  std::string chunks;
  for (int i = 0; i < 20; ++i) chunks += "1000\r\n" + std::string(4096, ' ') + "\r\n";
  r = stream_request(proxy.admin_port(),
                     "POST /v1/upstreams/app/nodes HTTP/1.1\r\nHost: localhost\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                         chunks,
                     0, 5000ms);
  EXPECT_EQ(first_status(r.received), 413u) << r.received;
  EXPECT_TRUE(r.closed);
}

TEST(admin_http, an_unauthenticated_post_gets_401_without_its_body_being_read) {
  fake_node a({"a"}), b({"b"});
  auto config = admin_test_config({a.port(), b.port()}, false);
  config.admin.token_file = write_temp_file("ops:s3cret-token\n", ".tokens");
  proxy_under_test proxy(config);
  // Only the header is sent: a server that read the body first would wait for it (and, with a
  // Content-Length over 64 KiB, answer 413 to a caller that has no token).
  for (const char* length : {"60000", "100000000"}) {
    const auto raw = raw_exchange(proxy.admin_port(),
                                  std::string("POST /v1/upstreams/app/nodes HTTP/1.1\r\nHost: localhost\r\n"
                                              "Content-Type: application/json\r\nContent-Length: ") +
                                      length + "\r\n\r\n",
                                  3000ms);
    EXPECT_EQ(first_status(raw.received), 401u) << length << "\n" << raw.received;
    EXPECT_NE(raw.received.find("WWW-Authenticate: Bearer"), std::string::npos) << raw.received;
    EXPECT_NE(raw.received.find("Connection: close"), std::string::npos) << raw.received;
    EXPECT_FALSE(raw.timed_out) << length;
  }
  // Sending a big body anyway ends with the 401, not with a read of it all.
  const auto r = stream_request(proxy.admin_port(),
                                "POST /v1/upstreams/app/nodes/node1/drain HTTP/1.1\r\nHost: localhost\r\n"
                                "Content-Type: application/json\r\nContent-Length: 16000000\r\n\r\n",
                                16'000'000, 5000ms);
  EXPECT_EQ(first_status(r.received), 401u) << r.received;
  EXPECT_TRUE(r.closed);
  EXPECT_LT(r.sent, 16'000'000u);
  EXPECT_EQ(proxy.node(0).admin, upstream::admin_state::ready);
  EXPECT_EQ(proxy.rt().upstreams[0]->nodes()->size(), 2u);
}

TEST(admin_api, web_pages_are_refused_with_403_cross_origin) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(admin_test_config({a.port(), b.port()}, false));
  test_client admin(proxy.admin_port());
  // A page's no-cors POST carries an Origin; a cross-site fetch says so in Sec-Fetch-Site.
  auto res =
      admin.request(http::verb::post, "/v1/upstreams/app/nodes/node1/drain", {}, {{"Origin", "https://evil.example"}});
  EXPECT_EQ(res.status, 403u);
  EXPECT_EQ(code_of(res), "cross_origin");
  test_client again(proxy.admin_port());
  res = again.request(http::verb::get, "/v1/upstreams", {}, {{"Sec-Fetch-Site", "cross-site"}});
  EXPECT_EQ(res.status, 403u);
  EXPECT_EQ(code_of(res), "cross_origin");
  EXPECT_EQ(proxy.node(0).admin, upstream::admin_state::ready);
  // What a person types into the address bar, and what curl sends, still work.
  test_client typed(proxy.admin_port());
  EXPECT_EQ(typed.request(http::verb::get, "/v1/upstreams", {}, {{"Sec-Fetch-Site", "none"}}).status, 200u);
  EXPECT_EQ(typed.request(http::verb::get, "/healthz", {}, {{"Origin", "https://evil.example"}}).status, 200u);
}

TEST(admin_api, a_host_that_does_not_name_the_admin_listener_gets_421) {
  fake_node a({"a"});
  proxy_under_test proxy(admin_test_config({a.port()}, false));
  const auto port = std::to_string(proxy.admin_port());
  auto with_host = [&](const std::string& target, const std::string& host) {
    test_client admin(proxy.admin_port());
    return admin.request(http::verb::get, target, {}, {{"Host", host}});
  };
  // DNS rebinding: the page's own name, resolving to 127.0.0.1.
  auto res = with_host("/v1/upstreams", "rebind.evil.example:" + port);
  EXPECT_EQ(res.status, 421u);
  EXPECT_EQ(code_of(res), "misdirected_request");
  EXPECT_EQ(with_host("/readyz", "rebind.evil.example:" + port).status, 421u);
  EXPECT_EQ(with_host("/v1/upstreams", "127.0.0.1:1").status, 421u);
  // What curl and the CLI send.
  EXPECT_EQ(with_host("/v1/upstreams", "127.0.0.1:" + port).status, 200u);
  EXPECT_EQ(with_host("/v1/upstreams", "localhost:" + port).status, 200u);
  EXPECT_EQ(with_host("/v1/upstreams", "localhost").status, 200u);
  // Prometheus scrapes under whatever name its target has.
  EXPECT_EQ(with_host("/metrics", "drawbridge.monitoring.svc:" + port).status, 200u);
  // No Host at all (HTTP/1.0).
  const auto raw = raw_exchange(proxy.admin_port(), "GET /v1/upstreams HTTP/1.0\r\n\r\n", 3000ms);
  EXPECT_EQ(first_status(raw.received), 421u) << raw.received;
}

TEST(admin_api, a_body_must_be_json_or_it_gets_415) {
  fake_node a({"a"}), c({"c"});
  proxy_under_test proxy(admin_test_config({a.port()}, false));
  const std::string body = R"({"name":"node3","address":"127.0.0.1:)" + std::to_string(c.port()) + R"("})";
  test_client admin(proxy.admin_port());
  // A form post is what a page can send without asking; a body without a type is refused as well.
  auto res = admin.request(http::verb::post, "/v1/upstreams/app/nodes", body,
                           {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(res.status, 415u);
  EXPECT_EQ(code_of(res), "unsupported_media_type");
  test_client second(proxy.admin_port());
  EXPECT_EQ(second.request(http::verb::post, "/v1/upstreams/app/nodes", body, {{"Content-Type", "text/plain"}}).status,
            415u);
  test_client third(proxy.admin_port());
  EXPECT_EQ(third.request(http::verb::post, "/v1/upstreams/app/nodes", body).status, 415u);
  EXPECT_EQ(proxy.rt().upstreams[0]->nodes()->size(), 1u);
  test_client fourth(proxy.admin_port());
  res = fourth.request(http::verb::post, "/v1/upstreams/app/nodes", body,
                       {{"Content-Type", "application/json; charset=utf-8"}});
  EXPECT_EQ(res.status, 201u) << res.body;
  // A POST without a body needs no type (curl -X POST).
  EXPECT_EQ(fourth.request(http::verb::post, "/v1/upstreams/app/nodes/node3/drain?force=true").status, 202u);
}

TEST(admin_api, a_refused_call_leaves_no_audit_line_and_none_of_its_names_in_the_log) {
  fake_node a({"a"});
  const auto tokens = write_temp_file("ops:s3cret-token\n", ".tokens");
  spawned_proxy proxy(R"({"listeners":[{"address":"127.0.0.1:0"}],"access_log":{"path":"off"},
    "admin":{"address":"127.0.0.1:0","token_file":")" +
                      tokens + R"("},
    "upstreams":[{"name":"app","nodes":[{"name":"node1","address":"127.0.0.1:)" +
                      std::to_string(a.port()) + R"("}]}]})");
  ASSERT_TRUE(proxy.started()) << proxy.output();
  test_client admin(proxy.admin_port());
  EXPECT_EQ(admin.request(http::verb::post, "/v1/upstreams/app/nodes/planted-name-1/drain").status, 401u);
  test_client page(proxy.admin_port());
  EXPECT_EQ(page.request(http::verb::post, "/v1/upstreams/planted-name-2/nodes/x/drain", {},
                         {{"Origin", "https://evil.example"}, {"Authorization", "Bearer s3cret-token"}})
                .status,
            403u);
  test_client ok(proxy.admin_port());
  EXPECT_EQ(ok.request(http::verb::post, "/v1/upstreams/app/nodes/node1/drain?force=true", {},
                       {{"Authorization", "Bearer s3cret-token"}})
                .status,
            202u);
  std::string log;
  ASSERT_TRUE(wait_for([&] {
    log = proxy.log();
    return log.find(R"("action":"drain","upstream":"app","node":"node1")") != std::string::npos;
  })) << log;
  EXPECT_EQ(log.find("planted-name"), std::string::npos) << log;
  EXPECT_NE(log.find("401 unauthorized"), std::string::npos) << log;
  EXPECT_NE(log.find("403 cross_origin"), std::string::npos) << log;
  EXPECT_EQ(log.find(R"("result":"unauthorized")"), std::string::npos) << log;
  std::remove(tokens.c_str());
}

TEST(admin_api, percent_encoded_names_reach_the_node_they_name) {
  fake_node a({"a"}), b({"b"});
  auto config = admin_test_config({a.port(), b.port()}, false);
  config.upstreams[0].nodes[0].name = "node one";
  proxy_under_test proxy(config);
  test_client admin(proxy.admin_port());
  const auto res = post(admin, "/v1/upstreams/app/nodes/node%20one/drain?wait=1s");
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(json::parse(res.body)["name"], "node one");
  EXPECT_EQ(proxy.node(0).admin, upstream::admin_state::drained);
}

TEST(state_file, a_change_that_cannot_be_saved_answers_500_persist_failed_and_is_saved_once_it_can_be) {
  fake_node a({"a"}), b({"b"}), c({"c"});
  auto config = admin_test_config({a.port(), b.port()}, false);
  const scratch_dir scratch;
  const auto& dir = scratch.path();
  config.state_file = dir + "/state.json";
  proxy_under_test proxy(config);
  // The directory becomes a file: no save can succeed, not even as root.
  std::filesystem::remove_all(dir);
  std::ofstream(dir) << "not a directory";
  test_client admin(proxy.admin_port());
  auto res = post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=1s");
  EXPECT_EQ(res.status, 500u) << res.body;
  EXPECT_EQ(code_of(res), "persist_failed");
  EXPECT_NE(json::parse(res.body)["error"]["message"].get<std::string>().find("Not a directory"), std::string::npos)
      << res.body;
  // The change holds in memory...
  EXPECT_NE(proxy.node(0).admin.load(), upstream::admin_state::ready);
  // ...and every later change says the state file still lags behind, even one that changes nothing.
  EXPECT_EQ(code_of(post(admin, "/v1/upstreams/app/nodes/node1/drain")), "persist_failed");
  res = post(admin, "/v1/upstreams/app/nodes",
             R"({"name":"node3","address":"127.0.0.1:)" + std::to_string(c.port()) + R"("})");
  EXPECT_EQ(res.status, 500u);
  EXPECT_EQ(code_of(res), "persist_failed");
  EXPECT_EQ(code_of(post(admin, "/v1/upstreams/app/nodes/node1/undrain")), "persist_failed");
  EXPECT_EQ(proxy.node(0).admin.load(), upstream::admin_state::ready);
  EXPECT_EQ(code_of(post(admin, "/v1/upstreams/app/nodes/node1/drain?wait=1s")), "persist_failed");
  // Once the directory is back, the retry writes what memory holds.
  std::filesystem::remove(dir);
  std::filesystem::create_directory(dir);
  ASSERT_TRUE(wait_for([&] { return std::filesystem::exists(config.state_file); }, 5000ms));
  std::string error;
  std::optional<upstream::saved_state> saved;
  ASSERT_TRUE(wait_for([&] {
    saved = upstream::load_state(config.state_file, error);
    return saved && saved->upstreams.size() == 1 && saved->upstreams[0].nodes.size() == 3 &&
           saved->upstreams[0].nodes[0].admin == upstream::admin_state::drained;
  })) << error;
  EXPECT_EQ(post(admin, "/v1/upstreams/app/nodes/node3/drain").status, 202u);
}
