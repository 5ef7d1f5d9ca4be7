// What one client, or a node that misbehaves, can make the proxy hold: memory bounded whatever the bytes,
// deadlines that trickled bytes cannot extend, connection caps per address and per node, upgrades only to
// WebSocket, and answers cut short that never pass for whole ones.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <future>
#include <nlohmann/json.hpp>

#include "tests/support/fake_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/scripted_node.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/tls_client.hpp"

using namespace drawbridge;
using namespace drawbridge::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

namespace {

constexpr std::uint64_t fifty_mb = 50ULL << 20;
const std::string chunked_post = "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
const std::string closing_chunked_post =
    "POST /upload HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";

// Kilobytes of this process's resident memory (the proxy runs in it).
long own_rss_kib() { return memory_kib(getpid(), "VmRSS"); }

}  // namespace

TEST(hostile_client, an_endless_chunk_extension_is_answered_400_without_buffering_it) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  const auto result = flood(proxy.port(), chunked_post + "1;", std::string(64 * 1024, 'a'), fifty_mb);
  EXPECT_EQ(first_status(result.received), 400u) << result.received.substr(0, 200);
  EXPECT_NE(result.received.find("chunk line or trailer section too long"), std::string::npos);
  EXPECT_LT(result.sent, fifty_mb);  // answered long before the end
  EXPECT_FALSE(result.timed_out);    // and closed
}

TEST(hostile_client, endless_trailers_are_answered_400_without_buffering_them) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  const auto result = flood(proxy.port(), chunked_post + "5\r\nhello\r\n0\r\n",
                            "X-Trailer: " + std::string(1000, 't') + "\r\n", fifty_mb);
  EXPECT_EQ(first_status(result.received), 400u) << result.received.substr(0, 200);
  EXPECT_LT(result.sent, fifty_mb);
  EXPECT_FALSE(result.timed_out);
  // The node connection that got a partial body is not kept.
  EXPECT_TRUE(wait_for([&] { return node.open_connections() == 0; }));
}

TEST(hostile_client, a_complete_chunk_line_with_over_4_kib_of_extensions_is_refused) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  const auto raw = raw_exchange(proxy.port(), chunked_post + "1;x=" + std::string(5000, 'a') + "\r\nb\r\n0\r\n\r\n");
  EXPECT_EQ(first_status(raw.received), 400u) << raw.received;
  EXPECT_FALSE(raw.timed_out);
  // Well under the cap, extensions pass (and are not forwarded: the body is re-chunked).
  const auto fine = raw_exchange(proxy.port(),
                                 "POST /upload HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\n1;x=" +
                                     std::string(100, 'a') + "\r\nb\r\n0\r\n\r\n");
  EXPECT_EQ(first_status(fine.received), 200u) << fine.received;
}

TEST(hostile_client, fifty_megabytes_of_chunk_extension_and_of_trailers_leave_memory_where_it_was) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  // Warm up: the worker's buffers and pools exist before the baseline is taken.
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(first_status(raw_exchange(proxy.port(),
                                        closing_chunked_post + "1;" + std::string(1000, 'a') + "\r\nb\r\n0\r\n\r\n")
                               .received),
              200u);
  const std::string extension_filler(64 * 1024, 'a');
  const std::string trailer_filler = "X-T: " + std::string(4000, 't') + "\r\n";
  const long before = own_rss_kib();
  const long peak_before = memory_kib(getpid(), "VmHWM");
  const auto extension = flood(proxy.port(), chunked_post + "1;", extension_filler, fifty_mb);
  const auto trailers = flood(proxy.port(), chunked_post + "0\r\n", trailer_filler, fifty_mb);
  const long after = own_rss_kib();
  const long peak_after = memory_kib(getpid(), "VmHWM");
  EXPECT_EQ(first_status(extension.received), 400u);
  EXPECT_EQ(first_status(trailers.received), 400u);
  EXPECT_LT(after - before, 2048) << "RSS grew from " << before << " KiB to " << after << " KiB";
  // And not for a moment in between (memory given back after the connection ended would hide that).
  EXPECT_LT(peak_after - peak_before, 2048) << "peak RSS grew from " << peak_before << " KiB to " << peak_after;
}

TEST(hostile_client, a_connection_that_never_sends_a_byte_is_closed_after_client_header_not_client_idle) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.timeouts.client_header = 300ms;
  config.timeouts.client_idle = 60s;
  proxy_under_test proxy(config);
  const auto started = std::chrono::steady_clock::now();
  const auto raw = raw_exchange(proxy.port(), "", 5000ms);
  EXPECT_FALSE(raw.timed_out) << "still open after 5 s";
  EXPECT_TRUE(raw.received.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s);
}

TEST(hostile_client, a_keep_alive_connection_still_waits_client_idle_after_its_first_request) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.timeouts.client_header = 200ms;
  config.timeouts.client_idle = 60s;
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  ASSERT_EQ(client.get("/a").status, 200u);
  // Well past client_header: the idle connection is still there. Nothing happens to wait for (that is the
  // point), so time passes, and then the worker checks deadlines once more.
  let_time_pass(500ms, "well past client_header (200 ms), which must not close a connection between requests");
  ASSERT_TRUE(proxy.wait_for_ticks());
  EXPECT_EQ(client.get("/b").status, 200u);
}

TEST(hostile_client, a_tls_record_trickled_a_byte_at_a_time_does_not_restart_the_idle_clock) {
  test_ca ca;
  const auto cert = ca.issue("a", "a.test", {"a.test"});
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  use_tls(config, {cert});
  config.timeouts.client_header = 800ms;
  config.timeouts.client_idle = 1500ms;
  proxy_under_test proxy(config);
  tls_client client(proxy.port(), {.sni = "a.test"});
  ASSERT_TRUE(client.connected()) << client.error();
  ASSERT_EQ(client.get("/").status, 200u);
  // A record header announcing 16 KiB of application data, then one byte every 150 ms: each byte wakes the
  // idle connection, and none completes the record.
  const int fd = client.native_socket();
  const char header[] = {0x17, 0x03, 0x03, 0x40, 0x00};
  ASSERT_EQ(::send(fd, header, sizeof header, MSG_NOSIGNAL), 5);
  const auto started = std::chrono::steady_clock::now();
  bool closed = false;
  while (std::chrono::steady_clock::now() - started < 6s) {
    let_time_pass(150ms, "a byte every 150 ms: the slow trickle is the attack");
    if (::send(fd, "x", 1, MSG_NOSIGNAL) != 1) {
      closed = true;
      break;
    }
    char byte;
    const auto n = ::recv(fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      closed = true;
      break;
    }
  }
  EXPECT_TRUE(closed) << "the proxy kept a trickling TLS connection open for 6 s";
  // Within client_header of the record's first bytes (plus ticks and the peer noticing), not idle's 1.5 s
  // restarted by every byte.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST(hostile_client, a_body_that_stops_gets_408_after_client_body_and_the_node_connection_is_dropped) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.timeouts.client_body = 300ms;
  config.timeouts.client_idle = 60s;
  proxy_under_test proxy(config);
  const auto raw =
      raw_exchange(proxy.port(), "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789", 5000ms);
  EXPECT_EQ(first_status(raw.received), 408u) << raw.received;
  EXPECT_FALSE(raw.timed_out);
  EXPECT_TRUE(wait_for([&] { return node.open_connections() == 0; }));
}

TEST(hostile_client, max_connections_per_ip_refuses_one_address_beyond_its_share) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.limits.max_connections_per_ip = 2;
  proxy_under_test proxy(config);
  auto a = std::make_unique<test_client>(proxy.port());
  test_client b(proxy.port());
  ASSERT_EQ(a->get("/x").status, 200u);
  ASSERT_EQ(b.get("/x").status, 200u);
  test_client c(proxy.port());
  EXPECT_EQ(c.get("/x").status, 0u);  // closed at once
  a.reset();                          // one of the two closes: there is room again
  EXPECT_TRUE(wait_for([&] {
    test_client d(proxy.port());
    return d.get("/x").status == 200u;
  }));
}

TEST(hostile_client, max_connections_per_node_queues_requests_up_to_the_connect_timeout) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.upstreams[0].max_connections_per_node = 1;
  config.timeouts.connect = 3s;
  proxy_under_test proxy(config);
  // One request holds the node's only slot for 400 ms; the next waits for it, then passes.
  auto slow = std::async(std::launch::async, [&] { return test_client(proxy.port()).get("/slow?delay_ms=400"); });
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).in_flight.load() == 1; }));
  test_client waiting(proxy.port());
  const auto queued = waiting.get("/queued");
  EXPECT_EQ(queued.status, 200u) << queued.body;
  EXPECT_EQ(slow.get().status, 200u);
}

TEST(hostile_client, max_connections_per_node_answers_503_when_no_slot_frees_within_the_connect_timeout) {
  fake_node node({"node1"});
  auto config = test_config({node.port()});
  config.upstreams[0].max_connections_per_node = 1;
  config.timeouts.connect = 200ms;
  proxy_under_test proxy(config);
  auto slow = std::async(std::launch::async, [&] { return test_client(proxy.port()).get("/slow?delay_ms=1500"); });
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).in_flight.load() == 1; }));
  test_client waiting(proxy.port());
  const auto refused = waiting.get("/refused");
  EXPECT_EQ(refused.status, 503u) << refused.body;
  EXPECT_NE(refused.body.find("max_connections_per_node"), std::string::npos) << refused.body;
  EXPECT_EQ(slow.get().status, 200u);
  EXPECT_EQ(node.requests(), 1u);
}

TEST(hostile_client, only_websocket_is_offered_to_the_node_in_an_upgrade) {
  scripted_node node(
      {{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        true}});
  proxy_under_test proxy({node.port()});
  const auto raw = raw_exchange(proxy.port(),
                                "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                                "Upgrade: h2c, websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n\r\n",
                                3000ms);
  EXPECT_EQ(first_status(raw.received), 101u) << raw.received;
  const auto requests = node.requests();
  ASSERT_EQ(requests.size(), 1u);
  std::string head = requests[0];
  std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
  EXPECT_NE(head.find("\r\nupgrade: websocket\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("h2c"), std::string::npos) << head;
}

TEST(hostile_client, a_101_to_another_protocol_or_without_the_websocket_accept_is_a_502) {
  for (const std::string answer :
       {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"}) {
    SCOPED_TRACE(answer);
    scripted_node node({{answer, true}});
    proxy_under_test proxy({node.port()});
    const auto raw = raw_exchange(proxy.port(),
                                  "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n"
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                                  3000ms);
    EXPECT_EQ(first_status(raw.received), 502u) << raw.received;
  }
}

TEST(hostile_client, an_http_1_0_client_gets_a_reset_when_the_node_dies_mid_body) {
  // The node promises a chunked body and dies in its middle; an HTTP/1.0 client reads the body to the
  // close, so a clean close would make the half body look whole.
  scripted_node node(
      {{"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n400\r\npartial",
        true}});
  proxy_under_test proxy({node.port()});
  const auto raw = raw_exchange(proxy.port(), "GET /x HTTP/1.0\r\n\r\n", 3000ms);
  EXPECT_EQ(first_status(raw.received), 200u) << raw.received;
  EXPECT_TRUE(raw.reset) << "the cut-short answer ended with a clean close: " << raw.received;
}

TEST(hostile_client, a_node_that_sends_a_body_after_a_204_or_a_head_answer_is_not_reused) {
  for (const bool head : {false, true}) {
    SCOPED_TRACE(head ? "HEAD" : "204");
    const std::string first =
        head ? "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" : "HTTP/1.1 204 No Content\r\n\r\nstray bytes";
    scripted_node node({{first, false}, {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false}});
    proxy_under_test proxy({node.port()});
    test_client client(proxy.port());
    const auto res1 = client.request(head ? http::verb::head : http::verb::get, "/first");
    EXPECT_EQ(res1.status, head ? 200u : 204u);
    const auto res2 = client.get("/second");
    EXPECT_EQ(res2.status, 200u);
    EXPECT_EQ(res2.body, "ok");
    EXPECT_EQ(node.connections(), 2u);  // the first connection was not pooled
  }
}

TEST(hostile_client, a_204_with_content_length_reaches_the_client_without_it) {
  // Found by the response fuzzer: a 204 with two Content-Length fields passed them on as they were, and a
  // strict client refuses a 204 that declares a length (RFC 9110 8.6). A HEAD answer keeps one of the two.
  for (const bool head : {false, true}) {
    SCOPED_TRACE(head ? "HEAD" : "204");
    scripted_node node({{head ? "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n"
                              : "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                         false}});
    proxy_under_test proxy({node.port()});
    const auto raw = raw_exchange(
        proxy.port(), std::string(head ? "HEAD" : "GET") + " /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        3000ms);
    EXPECT_EQ(first_status(raw.received), head ? 200u : 204u) << raw.received;
    std::string lower = raw.received;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::size_t lengths = 0;
    for (auto at = lower.find("content-length:"); at != std::string::npos; at = lower.find("content-length:", at + 1))
      ++lengths;
    EXPECT_EQ(lengths, head ? 1u : 0u) << raw.received;
    if (head) {
      EXPECT_NE(lower.find("content-length: 5\r\n"), std::string::npos) << raw.received;
    }
  }
}

TEST(hostile_client, an_acme_exemption_from_redirect_https_is_only_a_plain_challenge_path) {
  fake_node node({"n"});
  auto config = test_config({node.port()});
  config.listeners[0].redirect_https = true;
  proxy_under_test proxy(config);
  test_client client(proxy.port());
  for (const char* target : {"/.well-known/acme-challenge/../../admin", "/.well-known/acme-challenge/%2e%2e/admin",
                             "/.well-known/acme-challenge/x/../../admin", "/.well-known/acme-challenge/t?x=1"}) {
    SCOPED_TRACE(target);
    EXPECT_EQ(client.request(http::verb::get, target, {}, {{"Host", "example.com"}}).status, 308u);
  }
  EXPECT_EQ(client.request(http::verb::get, "/.well-known/acme-challenge/Ab-_9", {}, {{"Host", "example.com"}}).status,
            200u);
  EXPECT_EQ(node.requests(), 1u);
}

TEST(hostile_client, a_host_field_with_whitespace_is_refused_even_with_an_absolute_target) {
  fake_node node({"n"});
  proxy_under_test proxy({node.port()});
  for (const char* request : {"GET http://a/ HTTP/1.1\r\nHost: a b\r\n\r\n",
                              "GET http://a/ HTTP/1.1\r\nHost: a\tb\r\n\r\n", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"}) {
    SCOPED_TRACE(request);
    const auto raw = raw_exchange(proxy.port(), request);
    EXPECT_EQ(first_status(raw.received), 400u) << raw.received;
  }
  EXPECT_EQ(node.requests(), 0u);
}

TEST(hostile_client, one_empty_line_before_a_request_line_is_skipped_first_and_between_requests) {
  fake_node node({"n"});
  proxy_under_test proxy({node.port()});
  const auto raw = raw_exchange(proxy.port(),
                                "\r\nGET /one HTTP/1.1\r\nHost: a\r\n\r\n"
                                "\r\nGET /two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(first_status(raw.received), 200u) << raw.received;
  EXPECT_NE(raw.received.find("\"path\":\"/one\""), std::string::npos) << raw.received;
  EXPECT_NE(raw.received.find("\"path\":\"/two\""), std::string::npos) << raw.received;
}

TEST(hostile_client, a_header_field_beyond_beasts_limit_gets_431_not_a_silent_drop) {
  // Config validation caps max_header_size at 64k; a config built in code can skip it, and a field over
  // Beast's 65,533-byte limit must still get an answer.
  fake_node node({"n"});
  auto config = test_config({node.port()});
  config.limits.max_header_size = 1 << 20;
  proxy_under_test proxy(config);
  const auto raw =
      raw_exchange(proxy.port(), "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(70'000, 'x') + "\r\n\r\n");
  EXPECT_EQ(first_status(raw.received), 431u) << raw.received.substr(0, 200);
  EXPECT_EQ(node.requests(), 0u);
}

TEST(hostile_client, a_node_streaming_an_endless_chunk_line_costs_a_502_not_memory) {
  // 64 MB of one chunk line, and the node keeps the connection open: without a cap on the node
  // connection's buffer the proxy would hold all of it and then wait for the read timeout.
  scripted_node node({{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + std::string(64 << 20, 'a'), false}});
  proxy_under_test proxy({node.port()});  // read timeout 5 s
  const long peak_before = memory_kib(getpid(), "VmHWM");
  const auto started = std::chrono::steady_clock::now();
  const auto raw = raw_exchange(proxy.port(), "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 10000ms);
  EXPECT_EQ(first_status(raw.received), 502u) << raw.received.substr(0, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  // Without the cap the proxy holds all 64 MB; with it, 256 KiB and the buffers' growth (under ASan, whose
  // quarantine keeps freed blocks, a few MB more).
  EXPECT_LT(memory_kib(getpid(), "VmHWM") - peak_before, 16384);
}
