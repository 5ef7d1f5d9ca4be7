// HTTPS listeners: handshakes over TLS 1.2 and 1.3, SNI, old protocols and garbage refused, the redirect
// from plain HTTP, HSTS and X-Forwarded-Proto, and certificate reloads that leave open connections alone.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/support/fake_node.hpp"
#include "tests/support/metrics_scrape.hpp"
#include "tests/support/mutual_tls_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/raw_tls_client.hpp"
#include "tests/support/socket_state.hpp"
#include "tests/support/test_certs.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/tls_client.hpp"
#include "tests/support/tls_node.hpp"

using namespace drawbridge;
using namespace drawbridge::testing;
namespace http = boost::beast::http;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

conf::config tls_config(std::uint16_t node_port, const std::vector<pem_files>& certs, std::string hsts = {}) {
  auto config = admin_test_config({node_port}, false);
  use_tls(config, certs, std::move(hsts));
  return config;
}

}  // namespace

TEST(tls, a_request_is_proxied_over_tls_1_2_and_1_3_with_alpn_and_the_forwarded_proto) {
  test_ca ca;
  const auto cert = ca.issue("site", "app.example.com", {"app.example.com"});
  fake_node node({"n"});
  proxy_under_test proxy(tls_config(node.port(), {cert}, "max-age=31536000"));
  for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    tls_client client(
        proxy.port(),
        {.sni = "app.example.com", .min_version = version, .max_version = version, .ca_file = ca.ca_file()});
    ASSERT_TRUE(client.connected()) << client.error();
    EXPECT_EQ(client.version(), version == TLS1_2_VERSION ? "TLSv1.2" : "TLSv1.3");
    EXPECT_EQ(client.alpn(), "http/1.1");
    for (int i = 0; i < 3; ++i) {  // keep-alive over TLS
      const auto res = client.get("/hello");
      ASSERT_EQ(res.status, 200u) << res.error;
      const auto body = json::parse(res.body);
      EXPECT_EQ(body["headers"]["X-Forwarded-Proto"], "https");
      EXPECT_EQ(res.headers[http::field::strict_transport_security], "max-age=31536000");
    }
  }
  EXPECT_EQ(proxy.rt().listeners[0]->handshakes, 2u);
}

namespace {

// Three connections, each offering the session the one before ended with: all but the first resume, so
// each resumption must have handed out a fresh ticket (TLS 1.3 tickets are single-use).
void expect_each_return_resumes(int max_version, const char* version) {
  test_ca ca;
  const auto cert = ca.issue("site", "a.test", {"a.test"});
  fake_node node({"n"});
  proxy_under_test proxy(tls_config(node.port(), {cert}));
  std::shared_ptr<SSL_SESSION> session;
  for (int i = 0; i < 3; ++i) {
    tls_client client(proxy.port(), {.sni = "a.test", .max_version = max_version, .resume = session});
    ASSERT_TRUE(client.connected()) << client.error();
    EXPECT_EQ(client.version(), version);
    EXPECT_EQ(client.session_reused(), i > 0) << i;
    EXPECT_EQ(client.get("/").status, 200u);
    session = client.session();
  }
  EXPECT_EQ(proxy.rt().listeners[0]->resumed, 2u);
}

}  // namespace

TEST(tls, a_returning_client_resumes_its_session_and_gets_a_fresh_ticket_each_time) {
  expect_each_return_resumes(0, "TLSv1.3");
}

TEST(tls, a_tls_1_2_client_resumes_too) { expect_each_return_resumes(TLS1_2_VERSION, "TLSv1.2"); }

TEST(tls, sni_picks_the_certificate_that_names_the_host_and_no_sni_gets_the_first) {
  test_ca ca;
  const auto first = ca.issue("first", "first.test", {"first.test"}, key_kind::rsa);
  const auto wild = ca.issue("wild", "wild.example.com", {"*.example.com"}, key_kind::ecdsa);
  fake_node node({"n"});
  proxy_under_test proxy(tls_config(node.port(), {first, wild}));
  tls_client by_wildcard(proxy.port(), {.sni = "api.example.com", .ca_file = ca.ca_file()});
  ASSERT_TRUE(by_wildcard.connected()) << by_wildcard.error();
  EXPECT_NE(by_wildcard.peer_subject().find("CN=wild.example.com"), std::string::npos) << by_wildcard.peer_subject();
  EXPECT_EQ(by_wildcard.get("/").status, 200u);
  tls_client no_sni(proxy.port(), {.sni = ""});
  ASSERT_TRUE(no_sni.connected()) << no_sni.error();
  EXPECT_NE(no_sni.peer_subject().find("CN=first.test"), std::string::npos) << no_sni.peer_subject();
  tls_client unknown(proxy.port(), {.sni = "other.test"});
  ASSERT_TRUE(unknown.connected());
  EXPECT_NE(unknown.peer_subject().find("CN=first.test"), std::string::npos);
}

TEST(tls, tls_1_0_and_garbage_are_refused_without_disturbing_other_connections) {
  test_ca ca;
  const auto cert = ca.issue("site", "a.test", {"a.test"});
  fake_node node({"n"});
  proxy_under_test proxy(tls_config(node.port(), {cert}));
  tls_client good(proxy.port(), {.sni = "a.test"});
  ASSERT_TRUE(good.connected()) << good.error();
  tls_client old(proxy.port(), {.sni = "a.test", .min_version = TLS1_VERSION, .max_version = TLS1_1_VERSION});
  EXPECT_FALSE(old.connected());
  const auto garbage = raw_exchange(proxy.port(), "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", 2000ms);
  EXPECT_FALSE(garbage.timed_out);
  EXPECT_EQ(first_status(garbage.received), 0u);  // no HTTP answer on a TLS port
  EXPECT_EQ(good.get("/").status, 200u);
  ASSERT_TRUE(wait_for([&] { return proxy.rt().listeners[0]->handshake_failures == 2; }));
}

TEST(tls, min_version_1_3_refuses_a_tls_1_2_client) {
  test_ca ca;
  const auto cert = ca.issue("site", "a.test", {"a.test"});
  fake_node node({"n"});
  auto config = tls_config(node.port(), {cert});
  config.listeners[0].tls->min_version = "1.3";
  proxy_under_test proxy(config);
  tls_client old(proxy.port(), {.sni = "a.test", .max_version = TLS1_2_VERSION});
  EXPECT_FALSE(old.connected());
  tls_client current(proxy.port(), {.sni = "a.test"});
  ASSERT_TRUE(current.connected()) << current.error();
  EXPECT_EQ(current.version(), "TLSv1.3");
}

// A client that asked to close gets the response, close_notify and the TCP close at once: the proxy does
// not wait for the client's own close_notify (before, it held the connection open for up to a second),
// nor linger, since the client's request was read whole. The client never sends its close_notify here.
TEST(tls, connection_close_gets_close_notify_and_the_tcp_close_without_waiting_for_the_client) {
  test_ca ca;
  const auto cert = ca.issue("site", "a.test", {"a.test"});
  fake_node node({"n"});
  proxy_under_test proxy(tls_config(node.port(), {cert}));
  raw_tls_client client;
  ASSERT_TRUE(client.connect(proxy.port()));
  ASSERT_TRUE(client.send("GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"));
  int last = 0;
  const auto response = client.read_all(last);
  EXPECT_EQ(SSL_get_error(client.ssl.get(), last), SSL_ERROR_ZERO_RETURN);  // ended by the proxy's close_notify
  EXPECT_EQ(first_status(response), 200u);

  // Then the TCP close, without the client sending anything.
  const int fd = client.socket.native_handle();
  timeval short_limit{0, 700 * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &short_limit, sizeof short_limit);
  char byte = 0;
  ASSERT_EQ(::recv(fd, &byte, 1, 0), 0) << "no FIN within 700 ms: " << std::strerror(errno);
  // And the socket is closed, not half-closed and draining: a byte sent now meets a reset, which ends
  // the client's side too (a lingering close would read and drop the byte, leaving it in CLOSE_WAIT).
  ASSERT_EQ(::send(fd, "x", 1, MSG_NOSIGNAL), 1);
  int info_result = 0;
  const bool reset = wait_for(
      [&] {
        tcp_info info{};
        socklen_t size = sizeof info;
        info_result = getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size);
        return info_result != 0 || info.tcpi_state == TCP_CLOSE;
      },
      1000ms);
  ASSERT_EQ(info_result, 0);
  EXPECT_TRUE(reset) << "the proxy's socket is still open";
}

// drawbridge's own answers (here a 413, with HSTS) go out as one TLS record, head and body together.
// Records are counted with OpenSSL's message callback, which sees the inner content type of each TLS 1.3
// record (writing the head and the body separately makes this 2).
namespace {
int application_records = 0;
void count_records(int write_p, int, int content_type, const void* buf, size_t len, SSL*, void*) {
  if (!write_p && content_type == SSL3_RT_INNER_CONTENT_TYPE && len == 1 &&
      *static_cast<const unsigned char*>(buf) == SSL3_RT_APPLICATION_DATA)
    ++application_records;
}
}  // namespace

TEST(tls, an_error_answer_is_one_tls_record) {
  test_ca ca;
  const auto cert = ca.issue("site", "a.test", {"a.test"});
  fake_node node({"n"});
  auto config = tls_config(node.port(), {cert}, "max-age=60");
  config.limits.max_body_size = 10;
  proxy_under_test proxy(config);
  raw_tls_client client;
  ASSERT_TRUE(client.connect(proxy.port()));
  SSL_set_msg_callback(client.ssl.get(), count_records);
  application_records = 0;
  ASSERT_TRUE(client.send("POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\n\r\n"));
  int last = 0;
  const auto response = client.read_all(last);
  EXPECT_EQ(first_status(response), 413u);
  EXPECT_NE(response.find("Strict-Transport-Security: max-age=60"), std::string::npos) << response;
  EXPECT_NE(response.find("\r\n\r\n{\"error\":{\"code\":\"body_too_large\""), std::string::npos) << response;
  EXPECT_EQ(application_records, 1);
}

// Bodies larger than a TLS record and than the socket buffers, both ways, on one kept-alive connection:
// the stream's writes continue after the socket fills (want-write), and reads span many records.
TEST(tls, large_uploads_and_downloads_cross_intact) {
  test_ca ca;
  const auto cert = ca.issue("site", "a.test", {"a.test"});
  fake_node node({"n"});
  proxy_under_test proxy(tls_config(node.port(), {cert}));
  tls_client client(proxy.port(), {.sni = "a.test"});
  ASSERT_TRUE(client.connected()) << client.error();
  std::string upload(6 * 1024 * 1024 + 123, '\0');
  for (std::size_t i = 0; i < upload.size(); ++i) upload[i] = static_cast<char>('a' + i % 23);
  const auto digest = sha256_hex(upload);
  for (int round = 0; round < 2; ++round) {
    const auto up = client.request(http::verb::post, "/upload", {{"Content-Type", "application/octet-stream"}}, upload);
    ASSERT_EQ(up.status, 200u) << up.error;
    const auto answer = json::parse(up.body);
    EXPECT_EQ(answer["bytes"], upload.size());
    EXPECT_EQ(answer["sha256"], digest);
    const auto down = client.get("/big?bytes=" + std::to_string(9 * 1024 * 1024 + 7));
    ASSERT_EQ(down.status, 200u) << down.error;
    ASSERT_EQ(down.body.size(), 9u * 1024 * 1024 + 7);
    EXPECT_EQ(down.body.find_first_not_of('x'), std::string::npos);
  }
  EXPECT_EQ(proxy.rt().listeners[0]->handshakes, 1u);
}

// A client that reads slowly through a small receive buffer: the proxy's socket fills, OpenSSL asks to
// wait until it can write, and the response continues from where it stopped, byte for byte.
TEST(tls, a_slow_reader_gets_the_whole_response_after_the_socket_fills) {
  test_ca ca;
  const auto cert = ca.issue("site", "a.test", {"a.test"});
  fake_node node({"n"});
  proxy_under_test proxy(tls_config(node.port(), {cert}));
  raw_tls_client client;
  ASSERT_TRUE(client.connect(proxy.port(), 8192));
  constexpr std::size_t size = 8 * 1024 * 1024;
  ASSERT_TRUE(
      client.send("GET /big?bytes=" + std::to_string(size) + " HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"));
  // Reading starts once the proxy's side has filled up and its writes wait for room: its send queue
  // toward us is full, or holds bytes and has stopped growing (the kernel may stop it short of the send
  // buffer's size when TCP memory runs short machine-wide).
  const auto client_port = local_port(client.socket.native_handle());
  std::optional<tcp_memory> memory;
  std::uint32_t last_queued = 0;
  int unchanged = 0;
  EXPECT_TRUE(wait_for([&] {
    memory = tcp_memory_of(proxy.port(), client_port);
    if (!memory || memory->send_queued == 0) return false;
    unchanged = memory->send_queued == last_queued ? unchanged + 1 : 0;
    last_queued = memory->send_queued;
    return memory->send_queued >= memory->send_buffer || unchanged >= 5;
  })) << "the proxy's send queue never filled: "
      << (memory ? std::to_string(memory->send_queued) + " of " + std::to_string(memory->send_buffer) : "no socket");
  int last = 0;
  const auto response = client.read_all(last);
  const auto body_at = response.find("\r\n\r\n");
  ASSERT_NE(body_at, std::string::npos);
  EXPECT_EQ(first_status(response), 200u);
  EXPECT_EQ(response.size() - body_at - 4, size);
  EXPECT_EQ(response.find_first_not_of('x', body_at + 4), std::string::npos);
}

// A client that stops reading: the write waits for room (want-write) until the send timeout, then the
// connection is dropped, half a record inside OpenSSL and all (nothing more is written on it, not even
// an error answer), and other clients are served as before.
TEST(tls, a_client_that_stops_reading_is_dropped_after_the_send_timeout) {
  test_ca ca;
  const auto cert = ca.issue("site", "a.test", {"a.test"});
  fake_node node({"n"});
  auto config = tls_config(node.port(), {cert});
  config.timeouts.send = 300ms;
  proxy_under_test proxy(config);
  raw_tls_client stuck;
  ASSERT_TRUE(stuck.connect(proxy.port(), 8192));
  ASSERT_TRUE(stuck.send("GET /big?bytes=" + std::to_string(16 * 1024 * 1024) + " HTTP/1.1\r\nHost: a.test\r\n\r\n"));
  // Once the proxy has dropped the connection (past the send timeout, 0.3 s), read what made it out: part
  // of the body, then the end of the connection (no close_notify: it was dropped, not closed cleanly).
  // Had the proxy kept waiting, the whole body would follow now.
  EXPECT_TRUE(wait_for([&] { return scraped_sum(proxy.admin_port(), "drawbridge_downstream_connections") == 0.0; }))
      << "the proxy still holds the connection";
  int last = 0;
  const auto received = stuck.read_all(last);
  EXPECT_EQ(first_status(received), 200u);
  EXPECT_LT(received.size(), 16u * 1024 * 1024);
  EXPECT_NE(SSL_get_error(stuck.ssl.get(), last), SSL_ERROR_ZERO_RETURN);
  tls_client other(proxy.port(), {.sni = "a.test"});
  ASSERT_TRUE(other.connected()) << other.error();
  EXPECT_EQ(other.get("/").status, 200u);
}

TEST(tls, a_client_that_stalls_mid_handshake_is_dropped_after_client_header) {
  test_ca ca;
  const auto cert = ca.issue("site", "a.test", {"a.test"});
  fake_node node({"n"});
  auto config = tls_config(node.port(), {cert});
  config.timeouts.client_header = 300ms;
  proxy_under_test proxy(config);
  // Half a TLS record header, then nothing.
  const auto stalled = raw_exchange(proxy.port(), std::string("\x16\x03\x01", 3), 3000ms);
  EXPECT_FALSE(stalled.timed_out);  // the proxy closed it
  EXPECT_EQ(proxy.rt().listeners[0]->handshake_failures, 1u);
}

TEST(tls, a_plain_listener_with_redirect_https_answers_308_except_acme_challenges) {
  fake_node node({"n"});
  auto config = test_config({node.port()});
  config.listeners[0].redirect_https = true;
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  auto res = client.request(http::verb::get, "/app/page?x=1", {}, {{"Host", "Example.COM:80"}});
  EXPECT_EQ(res.status, 308u);
  EXPECT_EQ(res.headers[http::field::location], "https://example.com/app/page?x=1");
  res = client.request(http::verb::get, "/.well-known/acme-challenge/token123", {}, {{"Host", "example.com"}});
  EXPECT_EQ(res.status, 200u);
  EXPECT_EQ(json::parse(res.body)["path"], "/.well-known/acme-challenge/token123");
  EXPECT_EQ(node.requests(), 1u);
}

TEST(tls, a_reload_serves_the_new_certificate_to_new_connections_while_open_ones_go_on) {
  test_ca ca;
  const auto old_cert = ca.issue("old", "old.test", {"old.test"});
  const auto new_cert = ca.issue("new", "new.test", {"new.test"});
  const auto bad_key = ca.issue("bad", "bad.test", {"bad.test"});
  // The listener reads fixed paths; the test replaces the files behind them.
  const std::string cert_path = ca.dir() + "/live.pem", key_path = ca.dir() + "/live.key";
  std::filesystem::copy_file(old_cert.cert, cert_path);
  std::filesystem::copy_file(old_cert.key, key_path);
  fake_node node({"n"});
  proxy_under_test proxy(tls_config(node.port(), {{cert_path, key_path}}));
  tls_client open(proxy.port());
  ASSERT_TRUE(open.connected()) << open.error();
  EXPECT_NE(open.peer_subject().find("CN=old.test"), std::string::npos);

  std::filesystem::copy_file(new_cert.cert, cert_path, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(new_cert.key, key_path, std::filesystem::copy_options::overwrite_existing);
  test_client admin(proxy.admin_port());
  auto res = admin.request(http::verb::post, "/v1/tls/reload");
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(json::parse(res.body)["reloaded"][0]["certificates"][0]["names"][0], "new.test");
  tls_client fresh(proxy.port());
  ASSERT_TRUE(fresh.connected()) << fresh.error();
  EXPECT_NE(fresh.peer_subject().find("CN=new.test"), std::string::npos);
  EXPECT_EQ(open.get("/still-here").status, 200u);  // the connection from before the reload goes on

  // A key that does not match: the reload fails, says why, and the new certificate stays.
  std::filesystem::copy_file(bad_key.key, key_path, std::filesystem::copy_options::overwrite_existing);
  res = admin.request(http::verb::post, "/v1/tls/reload");
  EXPECT_EQ(res.status, 500u);
  EXPECT_NE(json::parse(res.body)["error"]["message"].get<std::string>().find("the key does not match the certificate"),
            std::string::npos)
      << res.body;
  tls_client after_bad(proxy.port());
  ASSERT_TRUE(after_bad.connected());
  EXPECT_NE(after_bad.peer_subject().find("CN=new.test"), std::string::npos);
}

TEST(upstream_tls, requests_reach_a_node_over_verified_tls_on_one_kept_alive_connection) {
  test_ca ca;
  tls_node node(ca, "node.test", {"node.test"});
  auto config = test_config({node.proxy.port()});
  config.upstreams[0].tls = {.enabled = true, .verify = true, .ca_file = ca.ca_file(), .sni = "node.test"};
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  for (int i = 0; i < 5; ++i) {
    const auto res = client.get("/over-tls");
    ASSERT_EQ(res.status, 200u) << res.body;
    EXPECT_EQ(json::parse(res.body)["headers"]["X-Forwarded-Proto"], "https");  // it arrived over TLS
  }
  EXPECT_EQ(node.proxy.rt().listeners[0]->handshakes, 1u);  // the pool kept the TLS connection
}

TEST(upstream_tls, a_node_whose_certificate_does_not_verify_is_refused) {
  test_ca ca, other_ca;
  tls_node wrong_ca(other_ca, "node.test", {"node.test"});
  tls_node wrong_name(ca, "elsewhere.test", {"elsewhere.test"});
  for (auto* node : {&wrong_ca, &wrong_name}) {
    auto config = test_config({node->proxy.port()});
    config.upstreams[0].tls = {.enabled = true, .verify = true, .ca_file = ca.ca_file(), .sni = "node.test"};
    proxy_under_test proxy(config);
    test_client client(proxy.port());
    const auto res = client.get("/x");
    EXPECT_EQ(res.status, 503u) << res.body;
    EXPECT_GE(proxy.node(0).connect_failures_total, 1u);
    EXPECT_EQ(node->backend.requests(), 0u);  // nothing went to a node we could not verify
  }
  // With verification off (a private network that trusts itself), the same node is used.
  auto config = test_config({wrong_ca.proxy.port()});
  config.upstreams[0].tls = {.enabled = true, .verify = false};
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  EXPECT_EQ(client.get("/x").status, 200u);
}

TEST(upstream_tls, a_node_addressed_by_ip_is_verified_against_its_ip_without_sni) {
  test_ca ca;
  tls_node with_ip(ca, "ip-node", {"IP:127.0.0.1"});
  tls_node without_ip(ca, "name-only", {"name-only.test"});
  auto config = test_config({with_ip.proxy.port()});
  config.upstreams[0].tls = {.enabled = true, .verify = true, .ca_file = ca.ca_file()};  // no sni
  {
    proxy_under_test proxy(config);
    test_client client(proxy.port());
    EXPECT_EQ(client.get("/x").status, 200u);
  }
  config.upstreams[0].nodes[0].address.port = without_ip.proxy.port();
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  EXPECT_EQ(client.get("/x").status, 503u);
  EXPECT_EQ(without_ip.backend.requests(), 0u);
}

TEST(upstream_tls, health_checks_use_tls_too) {
  test_ca ca;
  tls_node good(ca, "node.test", {"node.test"});
  tls_node bad(ca, "other.test", {"other.test"});  // its certificate does not name node.test
  auto config = admin_test_config({good.proxy.port(), bad.proxy.port()});
  config.upstreams[0].tls = {.enabled = true, .verify = true, .ca_file = ca.ca_file(), .sni = "node.test"};
  proxy_under_test proxy(config);
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).eligible(); }));
  ASSERT_TRUE(wait_for([&] { return proxy.node(1).health == upstream::health_state::unhealthy; }));
  test_client admin(proxy.admin_port());
  const auto node = json::parse(admin.get("/v1/upstreams/app/nodes/node2").body);
  EXPECT_NE(node["last_check"]["error"].get<std::string>().find("TLS handshake"), std::string::npos) << node.dump();
}

TEST(tls, sighup_reloads_the_certificates_of_the_running_binary_and_start_up_warns_of_expiry) {
  test_ca ca;
  const auto soon = ca.issue("soon", "soon.test", {"soon.test"}, key_kind::ecdsa, 5);  // expires in 5 days
  const auto later = ca.issue("later", "later.test", {"later.test"}, key_kind::ecdsa, 90);
  const std::string cert_path = ca.dir() + "/live.pem", key_path = ca.dir() + "/live.key";
  std::filesystem::copy_file(soon.cert, cert_path);
  std::filesystem::copy_file(soon.key, key_path);
  fake_node node({"n"});
  spawned_proxy proxy(R"({"workers":1,"listeners":[{"address":"127.0.0.1:0","tls":{"certificates":[{"cert":")" +
                      cert_path + R"(","key":")" + key_path + R"("}]}}],"access_log":{"path":"off"},
    "upstreams":[{"name":"app","nodes":[{"name":"n","address":"127.0.0.1:)" +
                      std::to_string(node.port()) + R"("}]}]})");
  ASSERT_TRUE(proxy.started()) << proxy.output();
  EXPECT_NE(proxy.log().find("certificate /O=drawbridge tests/CN=soon.test (" + cert_path + ") expires on"),
            std::string::npos)
      << proxy.log();
  tls_client open(proxy.port());
  ASSERT_TRUE(open.connected()) << open.error();
  EXPECT_NE(open.peer_subject().find("CN=soon.test"), std::string::npos);

  std::filesystem::copy_file(later.cert, cert_path, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(later.key, key_path, std::filesystem::copy_options::overwrite_existing);
  ::kill(proxy.pid(), SIGHUP);
  ASSERT_TRUE(wait_for([&] { return proxy.log().find("config reloaded from") != std::string::npos; })) << proxy.log();
  tls_client fresh(proxy.port());
  ASSERT_TRUE(fresh.connected()) << fresh.error();
  EXPECT_NE(fresh.peer_subject().find("CN=later.test"), std::string::npos) << fresh.peer_subject();
  EXPECT_EQ(open.get("/").status, 200u);
  EXPECT_EQ(proxy.terminate(), 0);
}

TEST(upstream_tls, a_node_that_requires_a_client_certificate_gets_the_configured_one) {
  test_ca ca;
  mutual_tls_node node(ca, ca.issue("node", "node.test", {"node.test"}));
  const auto client_cert = ca.issue("proxy-client", "drawbridge.client", {"drawbridge.client"});
  auto config = test_config({node.port()});
  config.upstreams[0].tls = {.enabled = true,
                             .verify = true,
                             .ca_file = ca.ca_file(),
                             .sni = "node.test",
                             .client_cert = client_cert.cert,
                             .client_key = client_cert.key};
  {
    proxy_under_test proxy(config);
    test_client client(proxy.port());
    const auto res = client.get("/x");
    ASSERT_EQ(res.status, 200u) << res.body;
    EXPECT_NE(json::parse(res.body)["client"].get<std::string>().find("CN=drawbridge.client"), std::string::npos);
  }
  // Without the client certificate the node refuses us. In TLS 1.3 the server checks the client's
  // certificate after the client's side of the handshake is done, so drawbridge sees a node that closed
  // before answering: 502, and nothing was served.
  config.upstreams[0].tls.client_cert.clear();
  config.upstreams[0].tls.client_key.clear();
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  EXPECT_EQ(client.get("/x").status, 502u);
  EXPECT_EQ(node.served(), 1);
}
