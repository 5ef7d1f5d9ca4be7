#include "proxy/header_rewrite.hpp"

#include <gtest/gtest.h>

using namespace drawbridge::proxy;
namespace http = boost::beast::http;

TEST(header_rewrite, strips_hop_by_hop_headers_and_those_connection_names) {
  http::fields f;
  f.set(http::field::host, "app.example");
  f.set(http::field::connection, "keep-alive, X-Secret, Upgrade");
  f.set("X-Secret", "1");
  f.set(http::field::keep_alive, "timeout=5");
  f.set(http::field::te, "trailers");
  f.set(http::field::trailer, "X-T");
  f.set(http::field::upgrade, "websocket");
  f.set("Proxy-Authorization", "Basic x");
  f.set("Proxy-Connection", "keep-alive");
  f.set("Cookie", "SESSION=abc");
  f.set("X-Appsmith-Version", "1.9");
  strip_hop_by_hop(f);
  for (const char* gone :
       {"Connection", "X-Secret", "Keep-Alive", "TE", "Trailer", "Upgrade", "Proxy-Authorization", "Proxy-Connection"})
    EXPECT_EQ(f.count(gone), 0u) << gone;
  EXPECT_EQ(f["Cookie"], "SESSION=abc");
  EXPECT_EQ(f["X-Appsmith-Version"], "1.9");
  EXPECT_EQ(f[http::field::host], "app.example");
}

TEST(header_rewrite, connection_cannot_strip_host_or_framing) {
  http::fields f;
  f.set(http::field::host, "app.example");
  f.set(http::field::content_length, "5");
  f.set(http::field::connection, "Host, Content-Length, Transfer-Encoding");
  strip_hop_by_hop(f);
  EXPECT_EQ(f[http::field::host], "app.example");
  EXPECT_EQ(f[http::field::content_length], "5");
}

TEST(header_rewrite, request_gets_forwarding_headers_and_keeps_host) {
  http::fields f;
  f.set(http::field::host, "app.example:8443");
  f.set("X-Forwarded-Proto", "gopher");
  f.set("X-Forwarded-Host", "spoofed");
  rewrite_request(f, {"192.0.2.7", "http", "6f9619ff-8b86-4d11-b42d-00c04fc964ff"});
  EXPECT_EQ(f[http::field::host], "app.example:8443");
  EXPECT_EQ(f["X-Forwarded-For"], "192.0.2.7");
  EXPECT_EQ(f["X-Forwarded-Proto"], "http");
  EXPECT_EQ(f["X-Forwarded-Host"], "app.example:8443");
  EXPECT_EQ(f["X-Request-Id"], "6f9619ff-8b86-4d11-b42d-00c04fc964ff");
  EXPECT_EQ(f.count("X-Forwarded-Proto"), 1u);
}

TEST(header_rewrite, from_a_trusted_peer_x_forwarded_for_is_appended_to_and_folded) {
  http::fields f;
  f.set(http::field::host, "a");
  f.insert("X-Forwarded-For", "203.0.113.1");
  f.insert("X-Forwarded-For", "198.51.100.2, 10.0.0.1");
  rewrite_request(f, {"127.0.0.1", "http", "id", /*trusted_peer=*/true});
  EXPECT_EQ(f.count("X-Forwarded-For"), 1u);
  EXPECT_EQ(f["X-Forwarded-For"], "203.0.113.1, 198.51.100.2, 10.0.0.1, 127.0.0.1");
}

namespace {
// What a client might send to pass itself off as someone else, or as having come through HTTPS.
http::fields spoofing_request() {
  http::fields f;
  f.set(http::field::host, "app.example");
  f.insert("X-Forwarded-For", "203.0.113.1");
  f.insert("X-Forwarded-For", "198.51.100.2");
  f.set("Forwarded", "for=203.0.113.1;proto=https;host=evil.example");
  f.set("X-Real-IP", "203.0.113.1");
  f.set("X-Forwarded-Port", "443");
  f.set("X-Forwarded-Prefix", "/evil");
  f.set("X-Forwarded-Proto", "https");
  f.set("X-Forwarded-Host", "evil.example");
  f.set("Proxy", "http://evil.example:3128");
  f.set("Cookie", "SESSION=abc");
  return f;
}
}  // namespace

TEST(header_rewrite, an_untrusted_peer_cannot_say_where_the_request_came_from) {
  auto f = spoofing_request();
  rewrite_request(f, {"192.0.2.7", "http", "id", /*trusted_peer=*/false});
  EXPECT_EQ(f.count("X-Forwarded-For"), 1u);
  EXPECT_EQ(f["X-Forwarded-For"], "192.0.2.7");
  for (const char* gone : {"Forwarded", "X-Real-IP", "X-Forwarded-Port", "X-Forwarded-Prefix", "Proxy"})
    EXPECT_EQ(f.count(gone), 0u) << gone;
  EXPECT_EQ(f["X-Forwarded-Proto"], "http");
  EXPECT_EQ(f["X-Forwarded-Host"], "app.example");
  EXPECT_EQ(f["Cookie"], "SESSION=abc");
}

TEST(header_rewrite, a_trusted_peers_forwarding_headers_are_kept_and_proxy_still_removed) {
  auto f = spoofing_request();
  rewrite_request(f, {"10.0.0.5", "http", "id", /*trusted_peer=*/true});
  EXPECT_EQ(f["X-Forwarded-For"], "203.0.113.1, 198.51.100.2, 10.0.0.5");
  EXPECT_EQ(f["Forwarded"], "for=203.0.113.1;proto=https;host=evil.example");
  EXPECT_EQ(f["X-Real-IP"], "203.0.113.1");
  EXPECT_EQ(f["X-Forwarded-Port"], "443");
  EXPECT_EQ(f["X-Forwarded-Prefix"], "/evil");
  // A TLS-terminating proxy in front knows the client's scheme and host; we only know its own.
  EXPECT_EQ(f["X-Forwarded-Proto"], "https");
  EXPECT_EQ(f["X-Forwarded-Host"], "evil.example");
  EXPECT_EQ(f.count("Proxy"), 0u);  // httpoxy: never passed on, whoever sends it
}

TEST(header_rewrite, a_trusted_peer_without_proto_or_host_gets_ours) {
  http::fields f;
  f.set(http::field::host, "app.example");
  rewrite_request(f, {"10.0.0.5", "https", "id", /*trusted_peer=*/true});
  EXPECT_EQ(f["X-Forwarded-For"], "10.0.0.5");
  EXPECT_EQ(f["X-Forwarded-Proto"], "https");
  EXPECT_EQ(f["X-Forwarded-Host"], "app.example");
}

TEST(header_rewrite, trust_is_decided_by_the_peer_address_against_the_networks) {
  const auto net = [](const char* text) { return *drawbridge::conf::parse_ip_network(text); };
  const std::vector<drawbridge::conf::ip_network> trusted{net("10.0.0.0/8"), net("127.0.0.1"), net("fd00::/8")};
  const auto addr = [](const char* text) { return boost::asio::ip::make_address(text); };
  EXPECT_TRUE(is_trusted_peer(trusted, addr("10.200.3.4")));
  EXPECT_TRUE(is_trusted_peer(trusted, addr("127.0.0.1")));
  EXPECT_TRUE(is_trusted_peer(trusted, addr("fd12::1")));
  EXPECT_FALSE(is_trusted_peer(trusted, addr("127.0.0.2")));
  EXPECT_FALSE(is_trusted_peer(trusted, addr("11.0.0.1")));
  EXPECT_FALSE(is_trusted_peer(trusted, addr("::1")));
  EXPECT_FALSE(is_trusted_peer({}, addr("127.0.0.1")));
}

TEST(header_rewrite, response_loses_hop_by_hop_and_gains_the_request_id) {
  http::fields f;
  f.set(http::field::connection, "close");
  f.set(http::field::keep_alive, "timeout=5");
  f.set(http::field::set_cookie, "SESSION=abc; Path=/");
  rewrite_response(f, "abc");
  EXPECT_EQ(f.count(http::field::connection), 0u);
  EXPECT_EQ(f.count(http::field::keep_alive), 0u);
  EXPECT_EQ(f[http::field::set_cookie], "SESSION=abc; Path=/");
  EXPECT_EQ(f["X-Request-Id"], "abc");
}

TEST(header_rewrite, an_untrusted_peer_cannot_smuggle_forwarding_headers_under_underscore_names) {
  http::fields f;
  f.set(http::field::host, "app.example");
  f.insert("X_Forwarded_For", "10.9.9.9");
  f.insert("x_real_ip", "10.9.9.9");
  f.insert("X_FORWARDED_PROTO", "https");
  f.insert("X-Forwarded-Ssl", "on");
  f.insert("X_Custom_Header", "kept");
  rewrite_request(f, forwarding{"203.0.113.7", "http", "id-1", /*trusted_peer=*/false});
  EXPECT_EQ(f.count("X_Forwarded_For"), 0u);
  EXPECT_EQ(f.count("x_real_ip"), 0u);
  EXPECT_EQ(f.count("X_FORWARDED_PROTO"), 0u);
  EXPECT_EQ(f.count("X-Forwarded-Ssl"), 0u);
  EXPECT_EQ(f["X-Forwarded-For"], "203.0.113.7");
  EXPECT_EQ(f["X_Custom_Header"], "kept");  // other names with "_" are the node's business
}
