#include "upstream/state_store.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include "tests/support/scratch_dir.hpp"

#include <filesystem>
#include <fstream>

using namespace drawbridge;
using namespace drawbridge::upstream;

namespace {

// A state file's path in a directory of its own, removed when the test ends.
struct scratch_state_file {
  drawbridge::testing::scratch_dir dir;
  const std::string path = dir.file("state.json");
};

}  // namespace

TEST(state_store, a_missing_file_is_a_first_start_not_an_error) {
  std::string error;
  EXPECT_FALSE(load_state("/nonexistent-dir/state.json", error));
  EXPECT_EQ(error, "");
}

TEST(state_store, what_is_saved_is_read_back) {
  const scratch_state_file scratch;
  const auto& path = scratch.path;
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
  const scratch_state_file scratch;
  const auto& path = scratch.path;
  std::ofstream(path) << R"({"upstreams":[{"name":"app","nodes":[{"name":"a"}]}]})";
  std::string error;
  EXPECT_FALSE(load_state(path, error));
  EXPECT_NE(error.find(path + ": the state file is not valid"), std::string::npos) << error;
}

namespace {

// A state file with one upstream "app" whose one node is `node` (a JSON object), loaded; the error.
std::string load_error_with_node(const std::string& node) {
  const scratch_state_file scratch;
  const auto& path = scratch.path;
  std::ofstream(path) << R"({"version":1,"upstreams":[{"name":"app","nodes":[)" << node << "]}]}";
  std::string error;
  EXPECT_FALSE(load_state(path, error)) << node;
  return error;
}

}  // namespace

TEST(state_store, weights_outside_the_configs_range_are_refused_naming_the_place) {
  auto error = load_error_with_node(R"({"name":"n","address":"10.0.0.1:80","admin_state":"ready","weight":0})");
  EXPECT_NE(error.find("upstreams[0].nodes[0].weight: expected an integer from 1 to 1000 (as in the config), got 0"),
            std::string::npos)
      << error;
  error = load_error_with_node(R"({"name":"n","address":"10.0.0.1:80","admin_state":"ready","weight":5000})");
  EXPECT_NE(error.find("upstreams[0].nodes[0].weight: expected an integer from 1 to 1000 (as in the config), got 5000"),
            std::string::npos)
      << error;
  error = load_error_with_node(R"({"name":"n","address":"10.0.0.1:80","admin_state":"ready","weight":-1})");
  EXPECT_NE(error.find("upstreams[0].nodes[0].weight: expected an integer"), std::string::npos) << error;
}

TEST(state_store, bad_names_are_refused_naming_the_place) {
  auto error = load_error_with_node(R"({"name":"","address":"10.0.0.1:80","admin_state":"ready"})");
  EXPECT_NE(error.find("upstreams[0].nodes[0].name: must not be empty"), std::string::npos) << error;
  error = load_error_with_node(R"({"name":"n","address":"10.0.0.1:80","admin_state":"ready"},
                                  {"name":"n","address":"10.0.0.2:80","admin_state":"drained"})");
  EXPECT_NE(error.find(R"(upstreams[0].nodes[1].name: duplicate node name "n")"), std::string::npos) << error;
  // Only the admin API adds nodes, and it never takes such a name.
  error =
      load_error_with_node(R"({"name":"a;touch /tmp/x","address":"10.0.0.1:80","admin_state":"ready","added":true})");
  EXPECT_NE(error.find("upstreams[0].nodes[0].name: an added node's name must be 1 to 64 letters"), std::string::npos)
      << error;
  error = load_error_with_node(R"({"name":"n","address":"10.0.0.1:0","admin_state":"ready"})");
  EXPECT_NE(error.find("upstreams[0].nodes[0].address: expected host:port"), std::string::npos) << error;

  const scratch_state_file scratch;
  const auto& path = scratch.path;
  std::ofstream(path) << R"({"upstreams":[{"name":"app","nodes":[]},{"name":"app","nodes":[]}]})";
  EXPECT_FALSE(load_state(path, error));
  EXPECT_NE(error.find(path + R"(: the state file is not valid: upstreams[1].name: duplicate upstream name "app")"),
            std::string::npos)
      << error;
}

TEST(state_store, a_configured_node_keeps_any_name_the_config_allows) {
  const scratch_state_file scratch;
  const auto& path = scratch.path;
  std::ofstream(path) << R"({"upstreams":[{"name":"app","nodes":[
    {"name":"node one","address":"10.0.0.1:80","admin_state":"drained","weight":1000}],"removed":["x y"]}]})";
  std::string error;
  const auto loaded = load_state(path, error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(loaded->upstreams[0].nodes[0].name, "node one");
  EXPECT_EQ(loaded->upstreams[0].nodes[0].weight, 1000u);
}

TEST(state_store, a_symlink_planted_at_the_temporary_path_is_not_followed) {
  const scratch_state_file scratch;
  const auto& path = scratch.path;
  const auto victim = std::filesystem::path(path).parent_path() / "victim";
  std::ofstream(victim) << "precious\n";
  std::filesystem::create_symlink(victim, path + ".tmp");
  saved_state state;
  state.upstreams.push_back({"app", {{"node1", {"127.0.0.1", 9001}, 1, admin_state::drained, false}}, {}});
  std::string error;
  ASSERT_TRUE(save_state(path, state, error)) << error;
  std::ifstream in(victim);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "precious\n");
  EXPECT_FALSE(std::filesystem::is_symlink(path));
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path + ".tmp")));
  const auto loaded = load_state(path, error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(loaded->upstreams[0].nodes[0].admin, admin_state::drained);
}

TEST(state_store, a_temporary_file_left_by_a_crash_does_not_block_saving) {
  const scratch_state_file scratch;
  const auto& path = scratch.path;
  std::ofstream(path + ".tmp") << "half a state fi";
  saved_state state;
  state.upstreams.push_back({"app", {}, {"node2"}});
  std::string error;
  ASSERT_TRUE(save_state(path, state, error)) << error;
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  const auto loaded = load_state(path, error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(loaded->upstreams[0].removed, std::vector<std::string>{"node2"});
}

TEST(state_store, a_save_into_a_path_that_cannot_be_a_directory_fails_with_the_reason) {
  const scratch_state_file scratch;
  const auto& path = scratch.path;
  std::ofstream(path) << "a file, not a directory";
  std::string error;
  EXPECT_FALSE(save_state(path + "/state.json", saved_state{}, error));
  EXPECT_NE(error.find("Not a directory"), std::string::npos) << error;
}

// Found by tests/fuzz/config_files.cpp: "weight": 1e20 converted a double beyond unsigned's range (undefined
// behaviour), and -1 or 0 were taken as weights no config may give.
TEST(state_store, a_weight_the_config_would_refuse_makes_the_file_invalid) {
  for (const char* weight : {"1e20", "-1", "0", "1001", "2.5", "\"3\""}) {
    const scratch_state_file scratch;
    const auto& path = scratch.path;
    std::ofstream(path) << R"({"upstreams":[{"name":"app","nodes":[{"name":"a","address":"127.0.0.1:1",)"
                           R"("admin_state":"ready","weight":)"
                        << weight << "}]}]}";
    std::string error;
    EXPECT_FALSE(load_state(path, error)) << weight;
    EXPECT_NE(error.find("weight: expected an integer from 1 to 1000"), std::string::npos) << weight << ": " << error;
  }
  const scratch_state_file scratch;
  const auto& path = scratch.path;
  std::ofstream(path) << R"({"upstreams":[{"name":"app","nodes":[{"name":"a","address":"127.0.0.1:1",)"
                         R"("admin_state":"ready","weight":1000}]}]})";
  std::string error;
  const auto loaded = load_state(path, error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(loaded->upstreams[0].nodes[0].weight, 1000u);
}

// Cluster mode keeps each upstream in Redis as one JSON text, read back with the state file's checks.
TEST(state_store, one_upstream_round_trips_through_its_json_text) {
  const saved_upstream u{"app",
                         {{"node1", {"127.0.0.1", 9001}, 1, admin_state::draining, false},
                          {"node4", {"::1", 80}, 3, admin_state::ready, true}},
                         {"node2"}};
  std::string error;
  const auto back = upstream_from_json(upstream_to_json(u), error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->name, "app");
  ASSERT_EQ(back->nodes.size(), 2u);
  EXPECT_EQ(back->nodes[0].admin, admin_state::draining);
  EXPECT_EQ(back->nodes[1].address, (conf::host_port{"::1", 80}));
  EXPECT_EQ(back->nodes[1].weight, 3u);
  EXPECT_TRUE(back->nodes[1].added);
  EXPECT_EQ(back->removed, std::vector<std::string>{"node2"});

  EXPECT_FALSE(upstream_from_json("not json", error));
  EXPECT_FALSE(
      upstream_from_json(R"({"name":"app","nodes":[{"name":"n","address":"h:1","admin_state":"gone"}]})", error));
  EXPECT_EQ(error, "(upstream).nodes[0].admin_state: expected ready, draining or drained");
}
