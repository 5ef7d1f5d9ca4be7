#include "proxy/route_table.hpp"

#include <gtest/gtest.h>

using namespace drawbridge::proxy;
using drawbridge::conf::route_config;

namespace {
route_table make_table() {
  return route_table({{std::nullopt, "/", "web"},
                      {std::nullopt, "/api", "api"},
                      {std::nullopt, "/api/v1/git/", "git"},
                      {"admin.example", "/", "admin"}},
                     {"web", "api", "git", "admin"});
}
std::size_t upstream_of(const route_table& t, std::string_view host, std::string_view target) {
  const auto* r = t.match(host, target);
  return r ? r->upstream_index : 99;
}
}  // namespace

TEST(route_table, longest_prefix_wins) {
  const auto t = make_table();
  EXPECT_EQ(upstream_of(t, "a", "/"), 0u);
  EXPECT_EQ(upstream_of(t, "a", "/static/x.js"), 0u);
  EXPECT_EQ(upstream_of(t, "a", "/api"), 1u);
  EXPECT_EQ(upstream_of(t, "a", "/api/v1/users"), 1u);
  EXPECT_EQ(upstream_of(t, "a", "/api?x=1"), 1u);
  EXPECT_EQ(upstream_of(t, "a", "/api/v1/git/status"), 2u);
}

TEST(route_table, prefixes_match_whole_segments) {
  const auto t = make_table();
  EXPECT_EQ(upstream_of(t, "a", "/apiary"), 0u);
}

TEST(route_table, host_routes_beat_any_host_routes) {
  const auto t = make_table();
  EXPECT_EQ(upstream_of(t, "admin.example", "/api/v1/users"), 3u);
}

TEST(route_table, no_match_yields_null) {
  const route_table t({{std::nullopt, "/api", "api"}}, {"api"});
  EXPECT_EQ(t.match("a", "/"), nullptr);
  EXPECT_EQ(t.match("a", "/static"), nullptr);
}

TEST(route_table, host_normalisation_drops_port_and_case) {
  EXPECT_EQ(normalize_host("Admin.Example:8080"), "admin.example");
  EXPECT_EQ(normalize_host("[::1]:80"), "[::1]");
  EXPECT_EQ(normalize_host("example"), "example");
}
