// Nodes failing in every way at once under steady keep-alive load: one killed with SIGKILL while it
// answers, one that stalls, one that resets every tenth connection. Whatever happens, no client takes a
// truncated body for a whole one, no POST reaches a node twice, and the proxy's gauges come back to zero.

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "tests/support/fake_node.hpp"
#include "tests/support/metrics_scrape.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge;
using namespace drawbridge::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

namespace {

constexpr std::size_t get_bytes = 20'000;
constexpr std::size_t post_bytes = 30'000;

struct tally {
  std::mutex mutex;
  std::map<unsigned, int> statuses;
  std::vector<std::string> broken;  // what a client got that it must never get
};

}  // namespace

TEST(chaos, killed_stalling_and_resetting_nodes_never_cost_a_whole_looking_truncated_body_or_a_replayed_post) {
  spawned_demo_node dying("dying", "X-Post-Id");
  ASSERT_NE(dying.port(), 0);
  fake_node stalling({.name = "stalling", .mode = fake_node_options::behaviour::stall, .record_header = "X-Post-Id"});
  fake_node resetting({.name = "resetting", .reset_every = 10, .record_header = "X-Post-Id"});
  auto config = admin_test_config({dying.port(), stalling.port(), resetting.port()}, /*health_checks=*/false);
  config.timeouts.read = 300ms;                  // the stalling node costs a 504, not a hang
  config.upstreams[0].passive.max_failures = 0;  // keep every node in play for the whole run
  config.upstreams[0].min_available = 0;
  proxy_under_test proxy(config);

  tally seen;
  std::atomic<int> done{0};
  const std::string upload(post_bytes, 'p');
  const auto upload_sha = sha256_hex(upload);
  constexpr int clients = 4;
  constexpr int per_client = 60;
  std::vector<std::thread> load;
  load.reserve(clients);
  for (int c = 0; c < clients; ++c) {
    load.emplace_back([&, c] {
      auto client = std::make_unique<test_client>(proxy.port(), 5s);
      for (int i = 0; i < per_client; ++i, ++done) {
        const bool post = i % 2 == 1;
        // (Appended, not `"c" + ...`: g++ 12 warns about a false overlap in that operator+.)
        std::string id = "c";
        id += std::to_string(c);
        id += '-';
        id += std::to_string(i);
        std::string get_id = "get-";
        get_id += id;
        const auto res =
            post ? client->request(http::verb::post, "/upload", upload, {{"X-Post-Id", id}})
                 : client->request(http::verb::get, "/data?bytes=" + std::to_string(get_bytes) + "&stall_ms=20", {},
                                   {{"X-Post-Id", get_id}});
        std::string wrong;
        if (res.status == 200 && post) {
          const auto answer = json::parse(res.body, nullptr, false);
          if (answer.is_discarded() || answer["sha256"] != upload_sha) wrong = "POST " + id + " answered " + res.body;
        } else if (res.status == 200 && res.body.size() != get_bytes) {
          wrong = "GET " + id + " got " + std::to_string(res.body.size()) + " bytes as a whole 200";
        } else if (res.status != 200 && res.status != 0 && res.status != 502 && res.status != 503 &&
                   res.status != 504) {
          wrong = id + " got status " + std::to_string(res.status);
        }
        const std::lock_guard lock(seen.mutex);
        ++seen.statuses[res.status];
        if (!wrong.empty()) seen.broken.push_back(wrong);
        if (res.status == 0 || !res.keep_alive) client = std::make_unique<test_client>(proxy.port(), 5s);
      }
    });
  }
  // Once the load is under way, the dying node goes while it has requests in flight.
  ASSERT_TRUE(
      wait_for([&] { return done.load() >= clients * per_client / 4 && proxy.node(0).in_flight.load() > 0; }, 20s));
  dying.kill9();
  for (auto& t : load) t.join();

  for (const auto& b : seen.broken) ADD_FAILURE() << b;
  std::string summary;
  for (const auto& [status, count] : seen.statuses)
    summary += std::to_string(status) + ":" + std::to_string(count) + " ";
  EXPECT_GT(seen.statuses[200], clients * per_client / 3) << summary;  // the healthy paths kept working

  // No POST reached a node twice, across all three (the killed one's record ends where it died).
  std::map<std::string, int> posts;
  for (const auto& values : {dying.recorded(), stalling.recorded(), resetting.recorded()})
    for (const auto& v : values)
      if (!v.starts_with("get-")) ++posts[v];
  for (const auto& [id, count] : posts) EXPECT_EQ(count, 1) << "POST " << id << " reached nodes " << count << " times";
  EXPECT_FALSE(posts.empty());

  // Everything in flight ends; once the clients are gone, no client connection is counted open.
  EXPECT_TRUE(wait_for([&] { return scraped_sum(proxy.admin_port(), "drawbridge_node_in_flight") == 0.0; }, 5s));
  // (The admin API's own connection is not a downstream one.)
  EXPECT_TRUE(
      wait_for([&] { return scraped_sum(proxy.admin_port(), "drawbridge_downstream_connections") == 0.0; }, 5s));
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(proxy.node(i).in_flight.load(), 0) << i;
}
