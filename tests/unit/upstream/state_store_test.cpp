#include "upstream/state_store.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace drawbridge;
using namespace drawbridge::upstream;

namespace {

std::string temp_path() {
  char pattern[] = "/tmp/drawbridge-state-XXXXXX";
  const char* dir = mkdtemp(pattern);
  return std::string(dir ? dir : "/tmp") + "/state.json";
}

}  // namespace

TEST(state_store, a_missing_file_is_a_first_start_not_an_error) {
  std::string error;
  EXPECT_FALSE(load_state("/nonexistent-dir/state.json", error));
  EXPECT_EQ(error, "");
}

TEST(state_store, what_is_saved_is_read_back) {
  const auto path = temp_path();
  saved_state state;
  state.upstreams.push_back({"app",
                             {{"node1", {"127.0.0.1", 9001}, 1, admin_state::drained, false},
                              {"node4", {"10.0.0.14", 80}, 3, admin_state::ready, true}},
                             {"node2"}});
  std::string error;
  ASSERT_TRUE(save_state(path, state, error)) << error;
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  const auto loaded = load_state(path, error);
  ASSERT_TRUE(loaded) << error;
  ASSERT_EQ(loaded->upstreams.size(), 1u);
  const auto& u = loaded->upstreams[0];
  EXPECT_EQ(u.name, "app");
  ASSERT_EQ(u.nodes.size(), 2u);
  EXPECT_EQ(u.nodes[0].name, "node1");
  EXPECT_EQ(u.nodes[0].admin, admin_state::drained);
  EXPECT_FALSE(u.nodes[0].added);
  EXPECT_EQ(u.nodes[1].address, (conf::host_port{"10.0.0.14", 80}));
  EXPECT_EQ(u.nodes[1].weight, 3u);
  EXPECT_TRUE(u.nodes[1].added);
  EXPECT_EQ(u.removed, std::vector<std::string>{"node2"});
}

TEST(state_store, a_corrupt_file_is_reported_with_its_path) {
  const auto path = temp_path();
  std::ofstream(path) << R"({"upstreams":[{"name":"app","nodes":[{"name":"a"}]}]})";
  std::string error;
  EXPECT_FALSE(load_state(path, error));
  EXPECT_NE(error.find(path + ": the state file is not valid"), std::string::npos) << error;
}

// Found by tests/fuzz/config_files.cpp: "weight": 1e20 converted a double beyond unsigned's range (undefined
// behaviour), and -1 or 0 were taken as weights no config may give.
TEST(state_store, a_weight_the_config_would_refuse_makes_the_file_invalid) {
  for (const char* weight : {"1e20", "-1", "0", "1001", "2.5", "\"3\""}) {
    const auto path = temp_path();
    std::ofstream(path) << R"({"upstreams":[{"name":"app","nodes":[{"name":"a","address":"127.0.0.1:1",)"
                           R"("admin_state":"ready","weight":)"
                        << weight << "}]}]}";
    std::string error;
    EXPECT_FALSE(load_state(path, error)) << weight;
    EXPECT_NE(error.find("weight must be an integer from 1 to 1000"), std::string::npos) << weight << ": " << error;
  }
  const auto path = temp_path();
  std::ofstream(path) << R"({"upstreams":[{"name":"app","nodes":[{"name":"a","address":"127.0.0.1:1",)"
                         R"("admin_state":"ready","weight":1000}]}]})";
  std::string error;
  const auto loaded = load_state(path, error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(loaded->upstreams[0].nodes[0].weight, 1000u);
}
