// carry_nodes (proxy/runtime.hpp): what a config reload keeps of a changed upstream's nodes. Sans-IO: the
// addresses are IP literals, which resolve without a lookup, and nothing connects.

#include <gtest/gtest.h>

#include "proxy/runtime.hpp"

using namespace drawbridge;

namespace {

conf::node_config configured(const std::string& name, std::uint16_t port, std::uint32_t weight = 1) {
  return {name, conf::host_port{"127.0.0.1", port}, weight};
}

std::shared_ptr<upstream::upstream_group> built(const conf::upstream_config& config) {
  auto result = upstream::build_upstreams({config});
  EXPECT_TRUE(result.errors.empty());
  return result.groups.front();
}

std::shared_ptr<upstream::node> added(const std::string& name, std::uint16_t port) {
  return std::make_shared<upstream::node>(name, conf::host_port{"127.0.0.1", port}, 1,
                                          std::vector<boost::asio::ip::tcp::endpoint>{});
}

std::vector<std::string> names(const upstream::upstream_group& g) {
  std::vector<std::string> out;
  for (const auto& n : *g.nodes()) out.push_back(n->name());
  return out;
}

}  // namespace

TEST(carry_nodes, keeps_the_same_servers_and_what_the_admin_api_did) {
  conf::upstream_config was;
  was.name = "app";
  was.nodes = {configured("a", 1), configured("b", 2), configured("c", 3)};
  auto previous = built(was);
  const auto a = previous->find("a");
  const auto b = previous->find("b");
  b->restore(upstream::admin_state::drained);  // drained through the admin API
  // The admin API removed c and added d.
  auto live = *previous->nodes();
  live.erase(live.begin() + 2);
  live.push_back(added("d", 4));
  previous->publish(live);

  conf::upstream_config now = was;
  now.nodes = {configured("a", 1, 5), configured("b", 9), configured("c", 3), configured("e", 5)};
  auto next = built(now);
  ASSERT_FALSE(proxy::carry_nodes(was, *previous, now, *next));

  EXPECT_EQ(names(*next), (std::vector<std::string>{"a", "b", "e", "d"}));
  EXPECT_EQ(next->find("a"), a);  // the same server: the same object
  EXPECT_EQ(a->weight(), 1u);     // weights wait for the reload to commit (control plane)
  EXPECT_NE(next->find("b"), b);  // another address: another server...
  EXPECT_EQ(next->find("b")->address(), "127.0.0.1:9");
  EXPECT_EQ(next->find("b")->admin, upstream::admin_state::drained);  // ...that stays out like the old one
  EXPECT_EQ(next->find("d"), live.back());                            // added through the API: kept
  EXPECT_EQ(b->admin, upstream::admin_state::drained);                // nothing shared was touched
  EXPECT_EQ(previous->nodes()->size(), 3u);
}

TEST(carry_nodes, a_node_the_config_now_names_is_the_configured_one_and_the_limit_holds) {
  conf::upstream_config was;
  was.name = "app";
  was.nodes = {configured("a", 1)};
  auto previous = built(was);
  auto live = *previous->nodes();
  live.push_back(added("d", 4));
  previous->publish(live);

  conf::upstream_config now = was;
  now.nodes.push_back(configured("d", 4));
  auto next = built(now);
  ASSERT_FALSE(proxy::carry_nodes(was, *previous, now, *next));
  EXPECT_EQ(names(*next), (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(next->find("d"), live.back());  // the same address: the API's node object, now configured

  // Nodes added through the API count against the upstream's limit.
  for (std::size_t i = 0; live.size() < conf::max_nodes_per_upstream; ++i) {
    std::string name = "x";  // in two steps: g++ 12 warns falsely on "x" + to_string(i)
    name += std::to_string(i);
    live.push_back(added(name, static_cast<std::uint16_t>(100 + i)));
  }
  previous->publish(live);
  now = was;
  now.nodes.push_back(configured("z", 7));
  next = built(now);
  const auto error = proxy::carry_nodes(was, *previous, now, *next);
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("more than the 64 an upstream can"), std::string::npos) << *error;
}
