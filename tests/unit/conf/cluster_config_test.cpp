// The `cluster` section and the Redis URLs it takes.

#include <gtest/gtest.h>

#include <algorithm>

#include "conf/config_loader.hpp"

using namespace drawbridge::conf;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> errors_with_cluster(const std::string& cluster) {
  return parse_config(R"({"upstreams":[{"name":"a","nodes":[{"name":"n","address":"10.0.0.1:80"}]}],"cluster":)" +
                      cluster + "}")
      .errors;
}

bool has(const std::vector<std::string>& errors, const std::string& expected) {
  return std::find(errors.begin(), errors.end(), expected) != errors.end();
}

}  // namespace

TEST(redis_url, takes_the_three_forms_with_their_defaults) {
  std::string error;
  auto tcp = parse_redis_url("redis://redis.internal", error);
  ASSERT_TRUE(tcp) << error;
  EXPECT_EQ(tcp->scheme, redis_url::kind::tcp);
  EXPECT_EQ(tcp->host, "redis.internal");
  EXPECT_EQ(tcp->port, 6379);
  EXPECT_EQ(tcp->db, 0u);
  EXPECT_EQ(to_string(*tcp), "redis://redis.internal:6379/0");

  auto tls = parse_redis_url("rediss://[::1]:6380/3", error);
  ASSERT_TRUE(tls) << error;
  EXPECT_EQ(tls->scheme, redis_url::kind::tls);
  EXPECT_EQ(tls->host, "::1");
  EXPECT_EQ(tls->port, 6380);
  EXPECT_EQ(tls->db, 3u);
  EXPECT_EQ(to_string(*tls), "rediss://[::1]:6380/3");

  auto local = parse_redis_url("unix:///run/redis/redis.sock?db=2", error);
  ASSERT_TRUE(local) << error;
  EXPECT_EQ(local->scheme, redis_url::kind::unix_socket);
  EXPECT_EQ(local->path, "/run/redis/redis.sock");
  EXPECT_EQ(local->db, 2u);
  EXPECT_EQ(to_string(*local), "unix:///run/redis/redis.sock?db=2");
}

TEST(redis_url, refuses_what_it_cannot_reach_or_would_leak) {
  for (const char* bad : {"redis.internal:6379", "http://redis:6379", "redis://", "redis://host:0",
                          "redis://host:99999", "redis://host/x", "redis://host/99999", "redis://::1:6379",
                          "unix://relative.sock", "unix:///run/r.sock?timeout=1", "redis://user:secret@host:6379"}) {
    std::string error;
    EXPECT_FALSE(parse_redis_url(bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  std::string error;
  parse_redis_url("redis://:secret@host", error);
  EXPECT_EQ(error, "put the password in cluster.password_file, not in the URL");
}

TEST(cluster_config, absent_means_alone_and_present_gets_defaults) {
  const auto alone = parse_config(R"({"upstreams":[{"name":"a","nodes":[{"name":"n","address":"10.0.0.1:80"}]}]})");
  ASSERT_TRUE(alone.ok());
  EXPECT_FALSE(alone.value.cluster.enabled);

  const auto r = parse_config(R"({"upstreams":[{"name":"a","nodes":[{"name":"n","address":"10.0.0.1:80"}]}],
    "cluster":{"redis":"redis://127.0.0.1:6379/1"}})");
  ASSERT_TRUE(r.ok()) << r.errors.front();
  const auto& c = r.value.cluster;
  EXPECT_TRUE(c.enabled);
  EXPECT_EQ(c.redis.db, 1u);
  EXPECT_EQ(c.name, "drawbridge");
  EXPECT_EQ(c.replica, "");  // hostname:pid at start-up
  EXPECT_EQ(c.heartbeat, duration(1s));
  EXPECT_FALSE(c.tls.enabled);

  const auto secure = parse_config(R"({"upstreams":[{"name":"a","nodes":[{"name":"n","address":"10.0.0.1:80"}]}],
    "cluster":{"redis":"rediss://redis:6380","tls":{"ca_file":"/etc/ca.pem"}}})");
  ASSERT_TRUE(secure.ok()) << secure.errors.front();
  EXPECT_TRUE(secure.value.cluster.tls.enabled);
  EXPECT_TRUE(secure.value.cluster.tls.verify);
  EXPECT_EQ(secure.value.cluster.tls.ca_file, "/etc/ca.pem");
}

TEST(cluster_config, every_mistake_names_its_json_path) {
  EXPECT_TRUE(has(errors_with_cluster("{}"),
                  "cluster.redis: required (redis://host:port/db, rediss://host:port/db or unix:///path)"));
  EXPECT_TRUE(has(errors_with_cluster(R"({"redis":"redis://h","color":"red"})"), "cluster.color: unknown key"));
  EXPECT_TRUE(has(errors_with_cluster(R"({"redis":"memcached://h"})"),
                  "cluster.redis: expected the scheme redis, rediss or unix, got \"memcached\""));
  EXPECT_TRUE(has(errors_with_cluster(R"({"redis":"redis://h","name":"has space"})"),
                  "cluster.name: expected 1 to 64 letters, digits, '-', '_', '.' or ':', got \"has space\""));
  EXPECT_TRUE(has(errors_with_cluster(R"({"redis":"redis://h","replica":""})"),
                  "cluster.replica: expected 1 to 128 letters, digits, '-', '_', '.' or ':', got \"\""));
  EXPECT_TRUE(has(errors_with_cluster(R"({"redis":"redis://h","heartbeat":"10ms"})"),
                  "cluster.heartbeat: expected from 100ms to 60s, got 10ms"));
  EXPECT_TRUE(has(errors_with_cluster(R"({"redis":"redis://h","tls":{}})"), "cluster.tls: only with a rediss:// URL"));
  EXPECT_TRUE(has(errors_with_cluster("[]"), "cluster: expected an object, got an array"));
}

TEST(cluster_config, an_acme_listener_in_a_cluster_needs_the_sealing_key_file) {
  const auto parsed = parse_config(R"({"listeners": [{"address": "0.0.0.0:443", "tls": {"acme": {
      "directory": "https://ca.test/dir", "domains": ["a.test"], "challenge": "tls-alpn-01", "storage": "/s"}}}],
      "cluster": {"redis": "redis://127.0.0.1:6379/0"},
      "upstreams": [{"name": "a", "nodes": [{"name": "n", "address": "10.0.0.1:80"}]}]})");
  ASSERT_EQ(parsed.errors.size(), 1U);
  EXPECT_EQ(parsed.errors[0].rfind("cluster.acme_key_file: required when a listener has tls.acme", 0), 0U)
      << parsed.errors[0];
}
