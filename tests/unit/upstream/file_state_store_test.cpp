// The file state store: saves run on its writer thread, their handlers on the caller's io_context.

#include "upstream/file_state_store.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include "tests/support/scratch_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <thread>

using namespace drawbridge;
using namespace drawbridge::upstream;

namespace {

saved_state one_node(admin_state admin) {
  saved_state state;
  state.upstreams.push_back({"app", {{"node1", {"127.0.0.1", 9001}, 1, admin, false}}, {}});
  return state;
}

}  // namespace

TEST(file_state_store, every_save_completes_in_order_on_the_io_context_and_the_file_holds_the_newest) {
  const drawbridge::testing::scratch_dir scratch;
  const auto& dir = scratch.path();
  boost::asio::io_context io;
  std::vector<int> completed;
  std::vector<std::string> errors;
  std::vector<std::thread::id> threads;
  {
    file_state_store store(dir + "/state.json", io.get_executor());
    const admin_state states[] = {admin_state::draining, admin_state::ready, admin_state::drained};
    for (int i = 0; i < 3; ++i)
      store.save(one_node(states[i]), [&, i](const std::string& error) {
        completed.push_back(i);
        errors.push_back(error);
        threads.push_back(std::this_thread::get_id());
      });
    io.run();  // returns once every handler ran: the store holds work until then
  }
  EXPECT_EQ(completed, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(errors, (std::vector<std::string>{"", "", ""}));
  for (const auto& id : threads) EXPECT_EQ(id, std::this_thread::get_id());
  std::string error;
  const auto loaded = load_state(dir + "/state.json", error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(loaded->upstreams.at(0).nodes.at(0).admin, admin_state::drained);
}

TEST(file_state_store, a_save_that_fails_says_why_naming_the_file) {
  const drawbridge::testing::scratch_dir scratch;
  const auto& dir = scratch.path();
  std::filesystem::remove_all(dir);  // the directory is gone: no save can succeed
  boost::asio::io_context io;
  std::optional<std::string> outcome;
  file_state_store store(dir + "/state.json", io.get_executor());
  store.save(one_node(admin_state::drained), [&](const std::string& error) { outcome = error; });
  io.run();
  ASSERT_TRUE(outcome);
  EXPECT_NE(outcome->find(dir + "/state.json"), std::string::npos) << *outcome;
}

TEST(file_state_store, loads_what_it_saved_and_a_missing_file_is_a_first_start) {
  const drawbridge::testing::scratch_dir scratch;
  const auto& dir = scratch.path();
  boost::asio::io_context io;
  file_state_store store(dir + "/state.json", io.get_executor());
  std::string error;
  EXPECT_FALSE(store.load(error));
  EXPECT_EQ(error, "");
  store.save(one_node(admin_state::drained), [](const std::string&) {});
  io.run();
  const auto loaded = store.load(error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(loaded->upstreams.at(0).nodes.at(0).admin, admin_state::drained);
  EXPECT_NE(store.describe().find(dir + "/state.json"), std::string::npos);
}
