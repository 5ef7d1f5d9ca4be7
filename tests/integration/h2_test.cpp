// HTTP/2 to clients (proxy/h2_connection.hpp): ALPN and h2c, many streams on one connection spread over
// the nodes, bodies both ways under flow control with a stalled reader, the filters and headers of
// HTTP/1.1, drain and shutdown, and the floods: each answered as specified while another connection is
// served.

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>
#include <zlib.h>

#include <future>
#include <nlohmann/json.hpp>
#include <set>

#include "proxy/runtime.hpp"
#include "tests/support/fake_node.hpp"
#include "tests/support/h2_client.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_certs.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge;
using namespace drawbridge::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// test_config with h2c on its listener.
conf::config h2c_config(const std::vector<std::uint16_t>& node_ports) {
  auto c = test_config(node_ports);
  c.listeners[0].h2c = true;
  return c;
}

std::string node_of(const h2_response& r) { return json::parse(r.body).value("node", ""); }

// One GET on a fresh connection: the proxy still serves others while one is being flooded.
void expect_another_connection_served(std::uint16_t port) {
  h2_client other;
  ASSERT_TRUE(other.connect(port)) << other.error();
  const auto id = other.submit("GET", "/other");
  ASSERT_TRUE(other.finish({id}));
  EXPECT_EQ(other.response(id).status, 200u);
}

std::string gunzip(const std::string& in) {
  z_stream z{};
  inflateInit2(&z, 16 + MAX_WBITS);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_FINISH);
  out.resize(z.total_out);
  inflateEnd(&z);
  return rc == Z_STREAM_END ? out : std::string("(not gzip)");
}

constexpr std::uint8_t frame_data = 0x0, frame_headers = 0x1, frame_settings = 0x4, frame_ping = 0x6,
                       frame_continuation = 0x9;
constexpr std::uint8_t flag_end_stream = 0x1, flag_end_headers = 0x4;
constexpr std::uint32_t enhance_your_calm = 0xb;

}  // namespace

TEST(h2, alpn_offers_h2_first_and_a_tls_request_is_proxied_with_hsts_and_the_forwarded_proto) {
  fake_node node({"n"});
  test_ca ca;
  auto config = test_config({node.port()});
  use_tls(config, {ca.issue("site", "test.local", {"test.local"})}, "max-age=600");
  proxy_under_test proxy(config);
  h2_client client({.tls = true, .alpn = {"http/1.1", "h2"}});
  ASSERT_TRUE(client.connect(proxy.port())) << client.error();
  EXPECT_EQ(client.alpn(), "h2");  // ours is the order that counts
  const auto id = client.submit("GET", "/hello");
  ASSERT_TRUE(client.finish({id}));
  const auto& r = client.response(id);
  ASSERT_EQ(r.status, 200u);
  const auto body = json::parse(r.body);
  EXPECT_EQ(body["headers"]["X-Forwarded-Proto"], "https");
  EXPECT_EQ(body["headers"]["host"], "test.local");
  EXPECT_EQ(r.header("strict-transport-security"), "max-age=600");
  // WebSocket stays on HTTP/1.1 connections: RFC 8441's extended CONNECT is not offered.
  EXPECT_EQ(client.remote_setting(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL), 0u);

  // A listener configured for HTTP/1.1 alone does not offer h2.
  auto only11 = config;
  only11.listeners[0].tls->alpn = {"http/1.1"};
  proxy_under_test plain(only11);
  h2_client old({.tls = true, .alpn = {"h2", "http/1.1"}});
  ASSERT_TRUE(old.connect(plain.port())) << old.error();
  EXPECT_EQ(old.alpn(), "http/1.1");
}

TEST(h2, one_connection_carries_100_concurrent_streams_spread_over_the_nodes) {
  fake_node a({"a"}), b({"b"});
  proxy_under_test proxy(h2c_config({a.port(), b.port()}));
  h2_client client;
  ASSERT_TRUE(client.connect(proxy.port())) << client.error();
  std::vector<std::int32_t> ids;
  ids.reserve(100);
  for (int i = 0; i < 100; ++i) ids.push_back(client.submit("GET", "/slow?delay_ms=200&i=" + std::to_string(i)));
  ASSERT_TRUE(client.finish(ids, 20s));
  std::map<std::string, int> by_node;
  std::set<std::string> request_ids;
  for (const auto id : ids) {
    const auto& r = client.response(id);
    ASSERT_EQ(r.status, 200u) << "stream " << id;
    ++by_node[node_of(r)];
    request_ids.insert(r.header("x-request-id"));
  }
  EXPECT_EQ(by_node["a"], 50);
  EXPECT_EQ(by_node["b"], 50);
  EXPECT_EQ(request_ids.size(), 100u);  // one id per request
  // They were in flight together: each node had more than one connection open for them.
  EXPECT_GT(a.connections(), 1u);
  EXPECT_GT(b.connections(), 1u);
}

TEST(h2, uploads_and_downloads_stream_on_parallel_streams_while_one_reader_stalls) {
  fake_node node({"n"});
  auto config = h2c_config({node.port()});
  config.timeouts.send = 30s;        // the stalled reader is released before this
  config.timeouts.client_idle = 1s;  // and it says nothing for longer than this meanwhile
  proxy_under_test proxy(config);
  h2_client client({.auto_window = false});
  ASSERT_TRUE(client.connect(proxy.port())) << client.error();
  // The stalled stream: 8 MB that the client does not read past its first window.
  const auto stalled = client.submit("GET", "/big?bytes=8000000");
  const std::string upload(3'000'000, 'u');
  const auto up = client.submit("POST", "/upload", {{"content-type", "application/octet-stream"}}, upload);
  const auto down = client.submit("GET", "/down?bytes=2000000");
  client.release(up);
  client.release(down);
  ASSERT_TRUE(client.finish({up, down}, 20s));
  EXPECT_EQ(client.response(up).status, 200u);
  EXPECT_EQ(json::parse(client.response(up).body)["bytes"], 3'000'000);
  EXPECT_EQ(client.response(down).body.size(), 2'000'000u);
  // The stalled stream got no more than its window (nghttp2's default, 64 KiB) and is still open, also
  // after a silence longer than client_idle: a connection with an answer under way is not idle.
  const auto quiet_until = std::chrono::steady_clock::now() + 1500ms;
  client.pump([&] { return client.connection_ended() || std::chrono::steady_clock::now() > quiet_until; }, 5s);
  EXPECT_FALSE(client.connection_ended());
  EXPECT_FALSE(client.response(stalled).closed);
  EXPECT_LE(client.response(stalled).body.size(), 65'535u);
  // Released, it completes whole.
  client.release(stalled);
  ASSERT_TRUE(client.finish({stalled}, 20s));
  EXPECT_EQ(client.response(stalled).status, 200u);
  EXPECT_EQ(client.response(stalled).body.size(), 8'000'000u);
}

TEST(h2, gzip_request_ids_cookies_and_host_are_as_on_http_1_1) {
  fake_node node({"n"});
  auto config = h2c_config({node.port()});
  config.gzip.enabled = true;
  config.gzip.min_length = 100;
  proxy_under_test proxy(config);
  h2_client client;
  ASSERT_TRUE(client.connect(proxy.port())) << client.error();
  const auto zipped = client.submit("GET", "/json?bytes=5000", {{"accept-encoding", "gzip"}});
  const auto cookies = client.submit(
      "GET", "/c", {{"cookie", "a=1"}, {"cookie", "b=2"}, {"x-request-id", "0b5f0e2c-3d8a-4a51-9d3c-1f2e3d4c5b6a"}});
  ASSERT_TRUE(client.finish({zipped, cookies}));
  const auto& z = client.response(zipped);
  ASSERT_EQ(z.status, 200u);
  EXPECT_EQ(z.header("content-encoding"), "gzip");
  EXPECT_EQ(gunzip(z.body).size(), 5000u);
  const auto& c = client.response(cookies);
  ASSERT_EQ(c.status, 200u);
  const auto seen = json::parse(c.body)["headers"];
  EXPECT_EQ(seen["cookie"], "a=1; b=2");  // RFC 9113 §8.2.3: joined for the HTTP/1.1 node
  EXPECT_EQ(seen["X-Request-Id"], "0b5f0e2c-3d8a-4a51-9d3c-1f2e3d4c5b6a");
  EXPECT_EQ(c.header("x-request-id"), "0b5f0e2c-3d8a-4a51-9d3c-1f2e3d4c5b6a");
  EXPECT_EQ(seen["X-Forwarded-Proto"], "http");
  EXPECT_EQ(seen["host"], "test.local");
}

TEST(h2, malformed_requests_are_refused_stream_by_stream_and_the_connection_goes_on) {
  fake_node node({"n"});
  auto config = h2c_config({node.port()});
  config.limits.max_body_size = 1000;
  proxy_under_test proxy(config);
  h2_client client;
  ASSERT_TRUE(client.connect(proxy.port())) << client.error();
  // A connection-specific field is malformed in HTTP/2 (RFC 9113 §8.2.2): the stream is reset.
  const auto hop = client.submit("GET", "/a", {{"connection", "keep-alive"}});
  // Too large a body: 413, as on HTTP/1.1, before the node sees it.
  const auto big = client.submit("POST", "/upload", {{"content-length", "5000"}}, std::string(5000, 'x'));
  // Too large a header list: 431; nothing of it is kept.
  const auto fat = client.submit("GET", "/b", {{"x-fat", std::string(20'000, 'f')}});
  // A body without a length that crosses the limit: 413 too, once it has.
  const auto chunked = client.submit("POST", "/upload", {}, std::string(5000, 'y'));
  const auto fine = client.submit("GET", "/fine");
  ASSERT_TRUE(client.finish({hop, big, fat, chunked, fine}));
  EXPECT_EQ(client.response(chunked).status, 413u);
  EXPECT_EQ(client.response(hop).status, 0u);
  EXPECT_EQ(client.response(hop).reset_code, static_cast<std::uint32_t>(NGHTTP2_PROTOCOL_ERROR));
  EXPECT_EQ(client.response(big).status, 413u);
  // The whole answer, then the reset that ends the upload nobody reads (RFC 9113 §8.1: NO_ERROR).
  EXPECT_EQ(json::parse(client.response(big).body)["error"]["code"], "body_too_large");
  EXPECT_EQ(client.response(big).reset_code, static_cast<std::uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_EQ(client.response(fat).status, 431u);
  EXPECT_EQ(client.response(fine).status, 200u);
  EXPECT_EQ(node.requests(), 1u);
}

TEST(h2, h2c_is_off_by_default_and_the_preface_gets_an_http_1_1_refusal) {
  fake_node node({"n"});
  proxy_under_test proxy({node.port()});
  h2_client client;
  ASSERT_TRUE(client.connect(proxy.port()));
  const auto id = client.submit("GET", "/x");
  client.pump([&] { return client.connection_ended(); }, 5s);
  EXPECT_TRUE(client.connection_ended());
  EXPECT_FALSE(client.response(id).closed);  // no HTTP/2 answer: the proxy spoke HTTP/1.1
  EXPECT_EQ(node.requests(), 0u);
}

TEST(h2, a_drained_node_gets_no_new_streams) {
  fake_node a({"a"}), b({"b"});
  auto config = admin_test_config({a.port(), b.port()}, false);
  config.listeners[0].h2c = true;
  proxy_under_test proxy(config);
  test_client admin(proxy.admin_port());
  ASSERT_EQ(admin.request(boost::beast::http::verb::post, "/v1/upstreams/app/nodes/node1/drain").status, 202u);
  h2_client client;
  ASSERT_TRUE(client.connect(proxy.port())) << client.error();
  std::vector<std::int32_t> ids;
  ids.reserve(20);
  for (int i = 0; i < 20; ++i) ids.push_back(client.submit("GET", "/x"));
  ASSERT_TRUE(client.finish(ids));
  for (const auto id : ids) {
    ASSERT_EQ(client.response(id).status, 200u);
    EXPECT_EQ(node_of(client.response(id)), "b");
  }
}

TEST(h2, a_graceful_stop_sends_goaway_and_the_streams_in_flight_finish) {
  fake_node node({"n"});
  proxy_under_test proxy(h2c_config({node.port()}));
  h2_client client;
  ASSERT_TRUE(client.connect(proxy.port())) << client.error();
  const auto first = client.submit("GET", "/slow?delay_ms=600");
  const auto second = client.submit("GET", "/slow?delay_ms=600");
  ASSERT_TRUE(client.pump([&] { return node.requests() + node.open_connections() >= 2; }, 5s));
  proxy.stop();
  ASSERT_TRUE(client.pump([&] { return client.goaway_code.has_value(); }, 5s));
  EXPECT_EQ(*client.goaway_code, static_cast<std::uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_EQ(client.goaway_last_stream, second);
  ASSERT_TRUE(client.finish({first, second}));
  EXPECT_EQ(client.response(first).status, 200u);
  EXPECT_EQ(client.response(second).status, 200u);
  EXPECT_TRUE(client.pump([&] { return client.connection_ended(); }, 5s));
  proxy.wait();
}

TEST(h2, rapid_reset_gets_goaway_enhance_your_calm_and_never_more_node_requests_than_streams) {
  fake_node node({"n"});
  auto config = h2c_config({node.port()});
  config.http2.max_concurrent_streams = 8;
  proxy_under_test proxy(config);
  h2_client client;
  ASSERT_TRUE(client.connect(proxy.port())) << client.error();
  std::uint64_t most_in_flight = 0;  // node requests admitted and not yet done, as the proxy counts them
  for (int i = 0; i < 400 && !client.connection_ended() && !client.goaway_code; ++i) {
    const auto id = client.submit("GET", "/slow?delay_ms=2000");
    client.reset(id);
    const std::int64_t now = proxy.node(0).in_flight;
    most_in_flight = std::max<std::uint64_t>(most_in_flight, static_cast<std::uint64_t>(now));
    client.pump([] { return false; }, 1ms);
  }
  ASSERT_TRUE(client.pump([&] { return client.goaway_code.has_value(); }, 5s));
  EXPECT_EQ(*client.goaway_code, enhance_your_calm);
  EXPECT_LE(most_in_flight, 8u);
  expect_another_connection_served(proxy.port());
}

TEST(h2, ping_settings_and_empty_data_floods_get_goaway_enhance_your_calm) {
  fake_node node({"n"});
  proxy_under_test proxy(h2c_config({node.port()}));
  const std::string ping(8, 'p');
  for (const auto& [what, send] : std::vector<std::pair<std::string, std::function<void(h2_client&)>>>{
           {"PING", [&](h2_client& c) { c.frame(frame_ping, 0, 0, ping); }},
           {"SETTINGS", [&](h2_client& c) { c.frame(frame_settings, 0, 0, ""); }},
           {"empty DATA", [&](h2_client& c) { c.frame(frame_data, 0, 1, ""); }}}) {
    h2_client client;
    ASSERT_TRUE(client.connect(proxy.port())) << client.error();
    // Stream 1 for the empty DATA: a POST whose body stays open (HEADERS without END_STREAM: POST, http, /,
    // :authority test.local).
    if (what == "empty DATA")
      client.frame(frame_headers, flag_end_headers, 1, std::string("\x83\x86\x84\x01\x0atest.local"));
    for (int i = 0; i < 1000 && !client.connection_ended(); ++i) send(client);
    ASSERT_TRUE(client.pump([&] { return client.goaway_code.has_value(); }, 5s)) << what;
    EXPECT_EQ(*client.goaway_code, enhance_your_calm) << what;
    expect_another_connection_served(proxy.port());
  }
}

TEST(h2, a_continuation_flood_ends_the_connection_without_buffering_the_block) {
  fake_node node({"n"});
  proxy_under_test proxy(h2c_config({node.port()}));
  h2_client client;
  ASSERT_TRUE(client.connect(proxy.port())) << client.error();
  // HEADERS without END_HEADERS, then CONTINUATION frames that never end the block.
  const std::string literal = std::string("\x40\x05x-pad\x7f\xe9\x06", 10) + std::string(1000, 'v');
  client.frame(frame_headers, flag_end_stream, 1, "\x82\x86\x84");  // GET, http, / (static table)
  for (int i = 0; i < 200 && !client.connection_ended(); ++i) client.frame(frame_continuation, 0, 1, literal);
  ASSERT_TRUE(client.pump([&] { return client.goaway_code.has_value() || client.connection_ended(); }, 5s));
  EXPECT_TRUE(client.goaway_code.has_value());
  EXPECT_NE(client.goaway_code.value_or(0), static_cast<std::uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_EQ(node.requests(), 0u);
  expect_another_connection_served(proxy.port());
}

TEST(h2, a_window_that_never_opens_times_the_stream_out) {
  fake_node node({"n"});
  auto config = h2c_config({node.port()});
  config.timeouts.send = 1s;
  proxy_under_test proxy(config);
  // The client's window is 0: not a byte of body may be sent to it.
  h2_client client({.initial_window = 0});
  ASSERT_TRUE(client.connect(proxy.port())) << client.error();
  const auto id = client.submit("GET", "/big?bytes=1000000");
  ASSERT_TRUE(client.finish({id}, 10s));
  EXPECT_EQ(client.response(id).status, 200u);  // the head went (HEADERS need no window)
  EXPECT_TRUE(client.response(id).body.empty());
  EXPECT_NE(client.response(id).reset_code, static_cast<std::uint32_t>(NGHTTP2_NO_ERROR));
  expect_another_connection_served(proxy.port());
}

TEST(h2, a_reload_keeps_the_connection_and_its_next_streams_take_the_new_runtime) {
  fake_node app({"app1"}), other({"other1"});
  auto config = h2c_config({app.port()});
  auto second_upstream = config.upstreams[0];
  second_upstream.name = "other";
  second_upstream.nodes = {{"other1", conf::host_port{"127.0.0.1", other.port()}, 1}};
  config.upstreams.push_back(second_upstream);
  proxy_under_test proxy(config);
  h2_client client;
  ASSERT_TRUE(client.connect(proxy.port())) << client.error();
  const auto before = client.submit("GET", "/one");
  ASSERT_TRUE(client.finish({before}));
  EXPECT_EQ(node_of(client.response(before)), "app1");

  auto& server = proxy.server();
  auto next = server.current()->config;
  next.routes[0].upstream = "other";
  auto built = proxy::build_runtime(next, server.current().get());
  ASSERT_TRUE(built.value) << built.errors.front();
  server.publish(built.value);
  ASSERT_TRUE(proxy.wait_for_ticks());

  const auto after = client.submit("GET", "/two");
  ASSERT_TRUE(client.finish({after}));
  EXPECT_EQ(node_of(client.response(after)), "other1");
  EXPECT_FALSE(client.connection_ended());
  EXPECT_FALSE(client.goaway_code.has_value());
}

TEST(h2, requests_are_counted_and_logged_by_protocol) {
  fake_node node({"n"});
  auto config = admin_test_config({node.port()}, false);
  config.listeners[0].h2c = true;
  proxy_under_test proxy(config);
  h2_client client;
  ASSERT_TRUE(client.connect(proxy.port())) << client.error();
  std::vector<std::int32_t> ids;
  ids.reserve(3);
  for (int i = 0; i < 3; ++i) ids.push_back(client.submit("GET", "/x"));
  ASSERT_TRUE(client.finish(ids));
  test_client plain(proxy.port());
  ASSERT_EQ(plain.get("/y").status, 200u);
  const auto line = [&](const std::string& protocol) {
    test_client admin(proxy.admin_port());
    const auto body = admin.get("/metrics").body;
    const std::string key = "drawbridge_requests_by_protocol_total{protocol=\"" + protocol + "\"} ";
    const auto at = body.find(key);
    return at == std::string::npos ? std::string()
                                   : body.substr(at + key.size(), body.find('\n', at) - at - key.size());
  };
  EXPECT_TRUE(wait_for([&] { return line("HTTP/2") == "3" && line("HTTP/1.1") == "1"; }))
      << line("HTTP/2") << " " << line("HTTP/1.1");
}

TEST(h2, an_idle_connection_closes_after_client_idle_whatever_pings_it_gets) {
  fake_node node({"n"});
  auto config = h2c_config({node.port()});
  config.timeouts.client_idle = 1s;
  proxy_under_test proxy(config);
  h2_client client;
  ASSERT_TRUE(client.connect(proxy.port())) << client.error();
  const auto id = client.submit("GET", "/x");
  ASSERT_TRUE(client.finish({id}));
  // A PING every 200 ms (each answered) for up to 5 s: the connection still goes after about a second.
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (!client.goaway_code && !client.connection_ended() && std::chrono::steady_clock::now() < until) {
    client.frame(frame_ping, 0, 0, std::string(8, 'p'));
    client.pump([&] { return client.goaway_code.has_value(); }, 200ms);
  }
  ASSERT_TRUE(client.goaway_code.has_value());
  EXPECT_EQ(*client.goaway_code, static_cast<std::uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_TRUE(client.pump([&] { return client.connection_ended(); }, 5s));
}

TEST(h2, requests_breaking_the_pseudo_header_rules_are_reset_and_the_connection_goes_on) {
  fake_node node({"n"});
  proxy_under_test proxy(h2c_config({node.port()}));
  h2_client client;
  ASSERT_TRUE(client.connect(proxy.port())) << client.error();
  // Raw header blocks (HPACK from the static table and literals without indexing):
  //   1: no :path;  3: an upper-case field name;  5: a pseudo-header field after a regular one;
  //   7: an unknown pseudo-header field.
  const std::string authority("\x01\x0atest.local", 12);
  client.frame(frame_headers, flag_end_stream | flag_end_headers, 1, "\x82\x86" + authority);
  client.frame(frame_headers, flag_end_stream | flag_end_headers, 3,
               "\x82\x86\x84" + authority + std::string("\x00\x05X-Bad\x01v", 9));
  client.frame(frame_headers, flag_end_stream | flag_end_headers, 5,
               "\x82\x86" + authority + std::string("\x00\x03x-a\x01v", 7) + "\x84");
  client.frame(frame_headers, flag_end_stream | flag_end_headers, 7,
               "\x82\x86\x84" + authority + std::string("\x00\x04:bad\x01v", 8));
  ASSERT_TRUE(client.pump([&] { return client.resets.size() == 4; }, 5s)) << client.resets.size();
  for (const std::int32_t id : {1, 3, 5, 7})
    EXPECT_EQ(client.resets[id], static_cast<std::uint32_t>(NGHTTP2_PROTOCOL_ERROR)) << "stream " << id;
  EXPECT_FALSE(client.goaway_code.has_value());
  EXPECT_EQ(node.requests(), 0u);
  expect_another_connection_served(proxy.port());
}
