// The metrics page: every collector of a runtime, put together into one exposition.

#include "admin/metrics_page.hpp"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "tests/unit/upstream/test_nodes.hpp"

using namespace drawbridge;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.starts_with(line + "\n") || text.find("\n" + line + "\n") != std::string::npos;
}

// A runtime without sockets: one plain and one HTTPS listener (no certificates loaded), one upstream with
// one node, and the workers' shards.
std::unique_ptr<proxy::runtime> make_runtime() {
  auto rt = std::unique_ptr<proxy::runtime>(new proxy::runtime{
      conf::config{}, {}, {}, proxy::route_table({}, {}), nullptr, nullptr, std::chrono::system_clock::now()});
  conf::listener_config plain, https;
  plain.address = {"127.0.0.1", 8080};
  https.address = {"127.0.0.1", 8443};
  https.tls.emplace();
  rt->listeners.push_back(std::make_shared<proxy::listener>(plain));
  rt->listeners.push_back(std::make_shared<proxy::listener>(https));
  conf::upstream_config config;
  config.name = "app";
  rt->upstreams.push_back(
      std::make_shared<upstream::upstream_group>(config, upstream::node_list{upstream::test_node("node1")}));
  rt->metrics = std::make_shared<metrics::registry>();
  return rt;
}

}  // namespace

TEST(metrics_page, every_collector_adds_its_series_and_each_family_is_declared_once) {
  const auto rt = make_runtime();
  auto& w = rt->metrics->attach(0);
  w.requests_unrouted[metrics::code_slot(404)].add(2);
  w.rejected[static_cast<std::size_t>(metrics::reject_reason::malformed)].add(1);
  auto& plain = rt->metrics->listener("127.0.0.1:8080");
  plain.of(0).accepted.add(3);
  plain.of(0).open.add(1);
  plain.of(2).accepted.add(1);  // a second worker
  rt->upstreams[0]->nodes()->at(0)->stats.of(0).requests[metrics::code_slot(200)].add(1);
  rt->listeners[1]->full.store(5);
  const admin::action_counts actions = {{{"drain", "ok"}, 2}};

  const auto text = admin::render_metrics(*rt, actions);
  for (const char* line : {
           R"(drawbridge_requests_total{upstream="",node="",code="404"} 2)",
           R"(drawbridge_requests_total{upstream="app",node="node1",code="200"} 1)",
           R"(drawbridge_rejected_requests_total{reason="malformed"} 1)",
           R"(drawbridge_rejected_requests_total{reason="header_too_large"} 0)",
           R"(drawbridge_downstream_connections_total{listener="127.0.0.1:8080"} 4)",
           R"(drawbridge_downstream_connections{listener="127.0.0.1:8080"} 1)",
           R"(drawbridge_downstream_connections{listener="127.0.0.1:8443"} 0)",
           R"(drawbridge_tls_handshakes_total{listener="127.0.0.1:8443",result="full"} 5)",
           R"(drawbridge_admin_actions_total{action="drain",result="ok"} 2)",
           // NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one line, the version spliced in
           R"(drawbridge_build_info{version=")" DRAWBRIDGE_VERSION R"("} 1)",
       })
    EXPECT_TRUE(has_line(text, line)) << line << "\nnot in:\n" << text;
  // The plain listener has no handshakes to count.
  EXPECT_EQ(text.find(R"(drawbridge_tls_handshakes_total{listener="127.0.0.1:8080")"), std::string::npos);
  // drawbridge_requests_total gets series from two collectors: the workers' come first, under one header.
  EXPECT_LT(text.find(R"(code="404")"), text.find(R"(node="node1",code="200")"));
  std::multiset<std::string> declared;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("# TYPE ")) declared.insert(line.substr(7, line.find(' ', 7) - 7));
  for (const auto& name : declared) EXPECT_EQ(declared.count(name), 1u) << name;
  EXPECT_TRUE(declared.contains("drawbridge_tls_certificate_expiry_timestamp_seconds"));
  EXPECT_TRUE(declared.contains("drawbridge_health_checks_total"));
}
