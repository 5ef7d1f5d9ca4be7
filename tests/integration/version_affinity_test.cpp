// Version affinity through a rolling upgrade: Appsmith clients stay on nodes of the version they loaded.
// In-process for the rules (cookie, learning, a stale bundle asked again of the right version); with real
// processes for the headline: twenty simulated browsers through a `drawbridge rollout` from version 1 to
// version 2, with affinity and without.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/demo_fleet.hpp"
#include "tests/support/fake_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge;
using namespace drawbridge::testing;
namespace http = boost::beast::http;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// The node versions /v1/upstreams/app shows, in order ("" for none).
std::vector<std::string> versions_shown(test_client& admin) {
  std::vector<std::string> out;
  const auto reply = admin.get("/v1/upstreams/app");
  if (reply.status != 200) return out;
  const auto parsed = json::parse(reply.body);
  // A node whose version is unknown shows null (and operator[] on a const json must not miss a key).
  for (const auto& n : parsed.at("nodes")) {
    const auto v = n.find("version");
    out.push_back(v != n.end() && v->is_string() ? v->get<std::string>() : "");
  }
  return out;
}

// The value of the sample on the /metrics line that starts with `name` and holds every one of `labels`.
double metric(test_client& admin, const std::string& name, const std::vector<std::string>& labels) {
  const auto page = admin.get("/metrics").body;
  std::size_t at = 0;
  while (at < page.size()) {
    const auto end = page.find('\n', at);
    const std::string line = page.substr(at, end - at);
    at = end == std::string::npos ? page.size() : end + 1;
    if (!line.starts_with(name + "{")) continue;
    if (std::all_of(labels.begin(), labels.end(), [&](const auto& l) { return line.find(l) != std::string::npos; }))
      return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

conf::config affinity_config(const std::vector<std::uint16_t>& ports) {
  auto config = admin_test_config(ports);
  auto& upstream = config.upstreams[0];
  upstream.version_affinity.enabled = true;
  // Versions come from the first check's answer header, then from answers to requests only: a probe every
  // 30 s does not relearn a version behind the test's back.
  upstream.health_check.interval = 30s;
  upstream.health_check.timeout = 2s;
  return config;
}

std::vector<std::pair<std::string, std::string>> with_cookie(const std::string& version) {
  return {{"Cookie", "theme=dark; drawbridge_version=" + version + "; other=1"}};
}

}  // namespace

TEST(version_affinity, an_html_page_sets_the_version_cookie_and_requests_stay_on_the_version_they_name) {
  fake_node_options one{"one"}, two{"two"};
  one.version = "1.0";
  two.version = "2.0";
  fake_node a(one), b(two);
  proxy_under_test proxy(affinity_config({a.port(), b.port()}));
  test_client admin(proxy.admin_port());
  // Learned from the health checks' answers before either node takes a request.
  ASSERT_TRUE(wait_for([&] { return versions_shown(admin) == std::vector<std::string>{"1.0", "2.0"}; }));
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).eligible() && proxy.node(1).eligible(); }));

  test_client client(proxy.port());
  // No version named and none made active by an undrain: any node; the page sets the cookie of the node
  // that served it.
  for (int i = 0; i < 2; ++i) {
    const auto page = client.get("/");
    ASSERT_EQ(page.status, 200u);
    const std::string served = std::string(page.headers["X-Appsmith-Version"]);
    EXPECT_EQ(page.headers[http::field::set_cookie],
              "drawbridge_version=" + served + "; Path=/; HttpOnly; SameSite=Lax");
  }
  // A page requested with that cookie already: no new cookie, and the same version.
  for (int i = 0; i < 4; ++i) {
    const auto page = client.request(http::verb::get, "/", {}, with_cookie("2.0"));
    EXPECT_EQ(page.headers["X-Appsmith-Version"], "2.0");
    EXPECT_EQ(page.headers.count(http::field::set_cookie), 0u);
  }
  // The header names the version ahead of the cookie; JSON answers never set the cookie.
  for (int i = 0; i < 4; ++i) {
    auto headers = with_cookie("2.0");
    headers.emplace_back("X-Appsmith-Version", "1.0");
    const auto call = client.request(http::verb::get, "/api/v1/users/me", {}, headers);
    EXPECT_EQ(call.status, 200u) << call.body;
    EXPECT_EQ(call.headers["X-Appsmith-Version"], "1.0");
    EXPECT_EQ(call.headers.count(http::field::set_cookie), 0u);
  }
  EXPECT_EQ(metric(admin, "drawbridge_node_state", {"node=\"node1\"", "state=\"active\"", "version=\"1.0\""}), 1);
  // A version no node has: any node answers (Appsmith's 400 tells the page to refresh), counted once per
  // request as "unknown".
  const auto unknown = [&] {
    return metric(admin, "drawbridge_version_fallbacks_total", {"upstream=\"app\"", "version=\"unknown\""});
  };
  const double before = std::max(0.0, unknown());
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(client.request(http::verb::get, "/api/v1/users/me", {}, {{"X-Appsmith-Version", "9.9"}}).status, 400u);
  // Counted once the exchange is over, a moment after the answer went out.
  EXPECT_TRUE(wait_for([&] { return unknown() == before + 3; })) << unknown() << " after " << before;
}

TEST(version_affinity, a_node_restarted_on_another_build_without_a_drain_is_relearned_and_a_stale_bundle_retried) {
  fake_node_options one{"one"}, two{"two"};
  one.version = two.version = "1";
  fake_node a(one), b(two);
  proxy_under_test proxy(affinity_config({a.port(), b.port()}));
  test_client admin(proxy.admin_port());
  ASSERT_TRUE(wait_for([&] { return versions_shown(admin) == std::vector<std::string>{"1", "1"}; }));
  ASSERT_TRUE(wait_for([&] { return proxy.node(0).eligible() && proxy.node(1).eligible(); }));

  a.set_version("2");  // upgraded in place: the proxy still takes it for version 1
  test_client client(proxy.port());
  // A page of version 1 asks for its bundle: one of the first two requests reaches node one, whose 404 (and
  // X-Appsmith-Version: 2) sends it to node two once; from then on node one is known as version 2.
  for (int i = 0; i < 6; ++i) {
    const auto bundle = client.request(http::verb::get, "/static/js/main.1.js", {}, with_cookie("1"));
    EXPECT_EQ(bundle.status, 200u) << i;
    EXPECT_EQ(bundle.headers["X-Node"], "two") << i;
  }
  EXPECT_EQ(versions_shown(admin), (std::vector<std::string>{"2", "1"}));
  const auto stale_retries = [&] {
    return metric(admin, "drawbridge_retries_total", {"upstream=\"app\"", "reason=\"stale_asset\""});
  };
  EXPECT_TRUE(wait_for([&] { return stale_retries() == 1; })) << stale_retries();
  // A file missing on the node of the named version itself is that version's 404: relayed, not retried.
  EXPECT_EQ(client.request(http::verb::get, "/static/js/nothing.js", {}, with_cookie("1")).status, 404u);
  EXPECT_EQ(stale_retries(), 1);
  // Nor is a GET outside /static/.
  EXPECT_EQ(client.request(http::verb::get, "/api/v1/x?status=404", {}, with_cookie("2")).status, 404u);
  EXPECT_EQ(stale_retries(), 1);
}

namespace {

// Twenty browsers of an Appsmith app: each loads the page (keeping the version cookie), fetches the bundle
// the page names, then makes API calls with its version header; Appsmith's 400 for a version mismatch
// makes it reload, as the real client's "new version, please refresh" does.
class browsers {
 public:
  browsers(std::uint16_t port, int count) {
    for (int i = 0; i < count; ++i) threads_.emplace_back([this, port] { browse(port); });
  }
  ~browsers() { stop(); }
  void stop() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    stop_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  std::uint64_t pages() const { return pages_; }
  std::uint64_t calls() const { return calls_; }
  std::uint64_t static_404s() const { return static_404s_; }
  std::uint64_t mismatches() const { return mismatches_; }
  std::uint64_t most_mismatches_of_one() const { return most_of_one_; }
  std::uint64_t failures() const { return failures_; }
  std::string failure_sample() const {
    const std::lock_guard lock(mutex_);
    return sample_;
  }

 private:
  void failed(const std::string& what, const http_response& r) {
    ++failures_;
    const std::lock_guard lock(mutex_);
    if (sample_.size() < 2000) sample_ += what + ": " + std::to_string(r.status) + " " + r.error + " " + r.body + "\n";
  }

  void browse(std::uint16_t port) {
    auto client = std::make_unique<test_client>(port);
    std::string cookie;   // the drawbridge_version cookie's value, as a browser keeps it
    std::string version;  // the version of the page loaded
    std::uint64_t mine = 0;
    auto send = [&](const std::string& target, std::vector<std::pair<std::string, std::string>> headers) {
      if (!client->connected()) client = std::make_unique<test_client>(port);
      if (!cookie.empty()) headers.emplace_back("Cookie", "drawbridge_version=" + cookie);
      return client->request(http::verb::get, target, {}, headers);
    };
    // The page, then the bundle it names. False when either failed.
    auto load = [&] {
      const auto page = send("/", {});
      const auto at = page.body.find("/static/js/main.");
      if (page.status != 200 || at == std::string::npos) {
        failed("page", page);
        return false;
      }
      const std::string set(page.headers[http::field::set_cookie]);
      if (set.starts_with("drawbridge_version=")) cookie = set.substr(19, set.find(';') - 19);
      const auto end = page.body.find(".js\"", at);
      version = page.body.substr(at + 16, end - at - 16);
      ++pages_;
      const auto bundle = send("/static/js/main." + version + ".js", {});
      if (bundle.status == 404) ++static_404s_;
      if (bundle.status == 200 || bundle.status == 404) return true;
      failed("bundle", bundle);
      return false;
    };
    bool loaded = false;
    while (!stopping_) {
      if (!loaded) {
        loaded = load();
      } else {
        const auto call = send("/api/v1/users/me", {{"X-Appsmith-Version", version}});
        ++calls_;
        if (call.status == 400 && call.body.find("AE-BAD-4002") != std::string::npos) {
          ++mismatches_;
          ++mine;
          loaded = load();  // "There's a new version, please refresh"
        } else if (call.status != 200) {
          failed("api", call);
        }
      }
      // A browser's pace between two calls, cut short by stop(): the wait is on the stop, not on time.
      std::unique_lock lock(mutex_);
      stop_.wait_for(lock, 5ms, [&] { return stopping_.load(); });
    }
    const std::lock_guard lock(mutex_);
    most_of_one_ = std::max(most_of_one_, mine);
  }

  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> pages_{0}, calls_{0}, static_404s_{0}, mismatches_{0}, failures_{0};
  mutable std::mutex mutex_;
  std::condition_variable stop_;  // stopping_ set (under mutex_)
  std::uint64_t most_of_one_ = 0;
  std::string sample_;
};

std::string fleet_config(const std::vector<std::uint16_t>& ports, bool affinity) {
  std::string nodes;
  for (std::size_t i = 0; i < ports.size(); ++i)
    nodes += std::string(i ? "," : "") + R"({"name":"node)" + std::to_string(i + 1) + R"(","address":"127.0.0.1:)" +
             std::to_string(ports[i]) + R"("})";
  // The version comes from /info on each check here (learn_from); the in-process tests above learn it
  // from the X-Appsmith-Version header. Checks lenient enough for a sanitizer build under twenty browsers:
  // a node of the last old version that flapped unhealthy would send its clients to the new one early.
  const std::string versions =
      affinity ? R"("version_affinity":{"learn_from":{"path":"/info","pointer":"/version"}},)" : "";
  return R"({"workers":2,"listeners":[{"address":"127.0.0.1:0"}],"access_log":{"path":"off"},
    "timeouts":{"connect":"1s","read":"10s"},"admin":{"address":"127.0.0.1:0"},
    "upstreams":[{"name":"app",)" +
         versions + R"("health_check":{"path":"/api/v1/health","interval":"500ms","timeout":"500ms",
                         "healthy_threshold":2,"unhealthy_threshold":3},
                  "nodes":[)" +
         nodes + "]}]}";
}

struct rollout_run {
  std::uint64_t pages = 0, calls = 0, static_404s = 0, mismatches = 0, most_of_one = 0, failures = 0;
  std::string failure_sample, rollout_output, metrics_page;
  int exit_code = -1;
  std::vector<std::string> versions_after;
};

// Three nodes on version 1, twenty browsers, a rollout that restarts each node on version 2.
rollout_run run_rollout(bool affinity) {
  rollout_run run;
  demo_fleet fleet("1500ms", "1");
  spawned_proxy proxy(fleet_config(fleet.ports(), affinity));
  test_client admin(proxy.admin_port());
  const bool ready = fleet.ports().size() == 3 && proxy.started() && wait_for([&] {
                       const auto reply = admin.get("/v1/upstreams/app");
                       return reply.status == 200 && json::parse(reply.body)["eligible"] == 3;
                     });
  EXPECT_TRUE(ready) << proxy.output();
  if (!ready) return run;
  browsers clients(proxy.port(), 20);
  EXPECT_TRUE(wait_for([&] { return clients.pages() >= 20 && clients.calls() > 100; }));
  const auto result = run_drawbridge(
      {"rollout", "app", "--admin", "http://127.0.0.1:" + std::to_string(proxy.admin_port()), "--exec",
       "NODE_VERSION=2 " + fleet.restart_script() + " {node} {address}", "--drain-wait", "10s", "--health-wait", "20s"},
      90s);
  // Calls on the upgraded pool, then the counts.
  const auto calls_after = clients.calls();
  EXPECT_TRUE(wait_for([&] { return clients.calls() >= calls_after + 100; }));
  clients.stop();
  run.exit_code = result.exit_code;
  run.rollout_output = result.out;
  run.pages = clients.pages();
  run.calls = clients.calls();
  run.static_404s = clients.static_404s();
  run.mismatches = clients.mismatches();
  run.most_of_one = clients.most_mismatches_of_one();
  run.failures = clients.failures();
  run.failure_sample = clients.failure_sample();
  run.versions_after = versions_shown(admin);
  run.metrics_page = admin.get("/metrics").body;
  std::cout << "rollout 1 -> 2 with " << (affinity ? "version affinity" : "round robin only") << ": " << run.pages
            << " page loads, " << run.calls << " API calls, " << run.static_404s << " static 404s, " << run.mismatches
            << " version mismatches (at most " << run.most_of_one << " for one browser), " << run.failures
            << " other failures\n";
  return run;
}

}  // namespace

TEST(version_affinity, twenty_browsers_through_a_rollout_see_no_stale_bundle_and_at_most_one_refresh_each) {
  const auto with = run_rollout(true);
  EXPECT_EQ(with.exit_code, 0) << with.rollout_output;
  EXPECT_EQ(with.static_404s, 0u);
  EXPECT_LE(with.most_of_one, 1u);
  EXPECT_EQ(with.failures, 0u) << with.failure_sample;
  EXPECT_EQ(with.versions_after, (std::vector<std::string>{"2", "2", "2"}));
  // The rollout says what each node ran before and after, and what is left.
  for (const char* line : {"[1/3] node1: version 1\n", "[1/3] node1: version 1 -> 2", "[3/3] node3: version 1 -> 2",
                           "rollout app: versions now: 2 (node1 node2 node3)"})
    EXPECT_NE(with.rollout_output.find(line), std::string::npos) << line << "\n" << with.rollout_output;
  // Clients of version 1 still calling when its last node went were sent to version 2 (and counted).
  EXPECT_NE(with.metrics_page.find("drawbridge_version_fallbacks_total{upstream=\"app\",version=\"1\"}"),
            std::string::npos);

  // The same rollout without affinity: what it prevents. Round robin sends a page's calls and bundle to
  // either version while both run.
  const auto without = run_rollout(false);
  EXPECT_EQ(without.exit_code, 0) << without.rollout_output;
  EXPECT_GT(without.static_404s + without.mismatches, 0u);
  // Without affinity the proxy learns no version, and the rollout prints none.
  EXPECT_EQ(without.rollout_output.find(": version "), std::string::npos) << without.rollout_output;
  EXPECT_EQ(without.rollout_output.find("versions now"), std::string::npos) << without.rollout_output;
}
