#include "proxy/route_table.hpp"

#include <gtest/gtest.h>

#include "tests/unit/upstream/test_nodes.hpp"

using namespace drawbridge::proxy;

namespace {
// Upstreams named as given, without nodes: the table only looks at their names.
std::vector<std::shared_ptr<drawbridge::upstream::upstream_group>> upstreams(std::vector<std::string> names) {
  std::vector<std::shared_ptr<drawbridge::upstream::upstream_group>> out;
  for (auto& name : names) {
    drawbridge::conf::upstream_config config;
    config.name = std::move(name);
    out.push_back(drawbridge::upstream::test_group(config, 0));
  }
  return out;
}
// The groups outlive the tables the tests build from them.
const auto groups = upstreams({"web", "api", "git", "admin"});

route_table make_table() {
  return route_table({{std::nullopt, "/", "web"},
                      {std::nullopt, "/api", "api"},
                      {std::nullopt, "/api/v1/git/", "git"},
                      {"admin.example", "/", "admin"}},
                     groups);
}
std::string upstream_of(const route_table& t, std::string_view host, std::string_view target) {
  const auto* r = t.match(host, target);
  return r ? r->upstream->name() : "none";
}
}  // namespace

TEST(route_table, longest_prefix_wins) {
  const auto t = make_table();
  EXPECT_EQ(upstream_of(t, "a", "/"), "web");
  EXPECT_EQ(upstream_of(t, "a", "/static/x.js"), "web");
  EXPECT_EQ(upstream_of(t, "a", "/api"), "api");
  EXPECT_EQ(upstream_of(t, "a", "/api/v1/users"), "api");
  EXPECT_EQ(upstream_of(t, "a", "/api?x=1"), "api");
  EXPECT_EQ(upstream_of(t, "a", "/api/v1/git/status"), "git");
}

TEST(route_table, prefixes_match_whole_segments) {
  const auto t = make_table();
  EXPECT_EQ(upstream_of(t, "a", "/apiary"), "web");
}

TEST(route_table, host_routes_beat_any_host_routes) {
  const auto t = make_table();
  EXPECT_EQ(upstream_of(t, "admin.example", "/api/v1/users"), "admin");
}

TEST(route_table, no_match_yields_null) {
  const route_table t({{std::nullopt, "/api", "api"}}, groups);
  EXPECT_EQ(t.match("a", "/"), nullptr);
  EXPECT_EQ(t.match("a", "/static"), nullptr);
}

TEST(route_table, host_normalisation_drops_port_and_case) {
  EXPECT_EQ(normalize_host("Admin.Example:8080"), "admin.example");
  EXPECT_EQ(normalize_host("[::1]:80"), "[::1]");
  EXPECT_EQ(normalize_host("example"), "example");
}

TEST(route_table, a_route_finds_its_upstream_by_name_whatever_the_list_order) {
  const auto reversed = upstreams({"admin", "git", "api", "web"});
  const route_table t({{std::nullopt, "/api", "api"}, {std::nullopt, "/", "web"}}, reversed);
  EXPECT_EQ(t.match("a", "/api/x")->upstream, reversed[2].get());
  EXPECT_EQ(t.match("a", "/x")->upstream, reversed[3].get());
}
