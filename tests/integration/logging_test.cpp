// The logs never hold a worker up: the access log to a stdout nobody reads, and warnings about a failing
// node at most once a second, with a count of those held back.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <sstream>
#include <string>

#include "tests/support/fake_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge::testing;
using namespace std::chrono_literals;

namespace {

std::string config_json(std::uint16_t node_port, const std::string& access_log) {
  return R"({"workers":1,"listeners":[{"address":"127.0.0.1:0"}],"admin":{"address":"127.0.0.1:0"},
    "access_log":{"path":")" +
         access_log + R"("},
    "upstreams":[{"name":"app","nodes":[{"name":"node1","address":"127.0.0.1:)" +
         std::to_string(node_port) + R"("}]}]})";
}

// The value of one series in a scrape, or -1.
double sample(const std::string& scrape, const std::string& series) {
  std::istringstream lines(scrape);
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
  return -1;
}

std::size_t count_lines_with(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.find(what) != std::string::npos) ++n;
  return n;
}

}  // namespace

TEST(logging, a_stdout_nobody_reads_costs_access_log_lines_never_requests) {
  fake_node node({"node1"});
  // `drawbridge serve | sleep 600`: stdout is a pipe whose read end stays open and is never read.
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  spawned_proxy proxy(config_json(node.port(), "-"), out[1]);
  ::close(out[1]);  // the binary has its own copy
  ASSERT_TRUE(proxy.started()) << proxy.output();
  {
    test_client client(proxy.port());
    // About 1.3 KB of log line each: 3000 of them are several times what the pipe and the queue hold.
    const std::string target = "/x?pad=" + std::string(1000, 'p');
    for (int i = 0; i < 3000; ++i) {
      const auto res = client.get(target);
      ASSERT_EQ(res.status, 200u) << "request " << i << ": " << res.error;
    }
  }
  test_client admin(proxy.admin_port());
  const auto scrape = admin.get("/metrics");
  ASSERT_EQ(scrape.status, 200u) << scrape.error;
  EXPECT_GT(sample(scrape.body, R"(drawbridge_log_dropped_total{log="access"})"), 0) << scrape.body;
  EXPECT_EQ(sample(scrape.body, R"(drawbridge_log_dropped_total{log="operational"})"), 0);
  EXPECT_EQ(proxy.terminate(), 0);  // and stopping does not hang on the pipe either
  ::close(out[0]);
}

TEST(logging, a_failing_node_costs_one_warning_a_second_and_the_next_says_how_many_were_held_back) {
  std::uint16_t dead_port = 0;
  {
    fake_node gone({"gone"});  // started and stopped: its port now refuses connections
    dead_port = gone.port();
  }
  spawned_proxy proxy(config_json(dead_port, "off"));
  ASSERT_TRUE(proxy.started()) << proxy.output();
  test_client client(proxy.port());
  const auto started = std::chrono::steady_clock::now();
  int requests = 0;
  bool suppressed_noted = false;
  // Every request fails (503) and would warn twice (the connect, our 503); past a second, one does.
  for (int round = 0; round < 60 && !suppressed_noted; ++round) {
    for (int i = 0; i < 20; ++i, ++requests) ASSERT_EQ(client.get("/x").status, 503u);
    suppressed_noted = wait_for([&] { return proxy.log().find("similar suppressed)") != std::string::npos; }, 100ms);
  }
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_TRUE(suppressed_noted) << proxy.log();
  const auto log = proxy.log();
  const auto warnings = count_lines_with(log, "warning");
  EXPECT_GE(requests, 100);
  EXPECT_LE(static_cast<double>(warnings), seconds + 2) << log;
  const auto connect_warning = "connect to node node1 (127.0.0.1:" + std::to_string(dead_port) + ") failed";
  EXPECT_NE(log.find(connect_warning), std::string::npos) << log;
}
