// The fake node itself: what scripts/run and the tests rely on it to answer.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/fake_node.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(demo_node, health_answers_502_while_starting_then_200_like_an_appsmith_node) {
  fake_node node({"node1", "127.0.0.1", 0, 400ms});
  test_client client(node.port());
  const auto starting = client.get("/api/v1/health");
  EXPECT_EQ(starting.status, 502u);
  EXPECT_EQ(starting.body, "502 Bad Gateway");
  ASSERT_TRUE(wait_for([&] { return test_client(node.port()).get("/api/v1/health").status == 200; }, 5000ms));
  const auto up = test_client(node.port()).get("/api/v1/health");
  EXPECT_EQ(json::parse(up.body),
            json::parse(R"({"responseMeta":{"status":200,"success":true},"data":"All systems are up"})"));
}

TEST(demo_node, other_paths_name_the_node_and_echo_what_they_received) {
  fake_node node({"node7"});
  test_client client(node.port());
  const auto res = client.request(boost::beast::http::verb::put, "/api/v1/apps?x=1", "body!", {{"X-Test", "yes"}});
  ASSERT_EQ(res.status, 200u);
  const auto j = json::parse(res.body);
  EXPECT_EQ(j["node"], "node7");
  EXPECT_EQ(j["method"], "PUT");
  EXPECT_EQ(j["path"], "/api/v1/apps?x=1");
  EXPECT_EQ(j["body_bytes"], 5);
  EXPECT_EQ(j["headers"]["X-Test"], "yes");
}
