// The command line: check, serve's start-up errors, --version and --help.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "tests/support/proxy_harness.hpp"

using namespace drawbridge::testing;

TEST(cli, check_accepts_the_shipped_configs) {
  for (const char* name : {"/conf/drawbridge.json", "/conf/demo.json"}) {
    const auto r = run_drawbridge({"check", "--config", std::string(DRAWBRIDGE_SOURCE_DIR) + name});
    EXPECT_EQ(r.exit_code, 0) << r.out;
    EXPECT_NE(r.out.find(": ok"), std::string::npos) << r.out;
  }
}

TEST(cli, check_lists_each_problem_with_its_json_path_and_exits_2) {
  const auto path = write_temp_file(R"({"workers": -1, "upstreams":[{"name":"a","nodes":[
    {"name":"n0","address":"10.0.0.6:80"},{"name":"n1","address":"10.0.0.7"}]}]})");
  const auto r = run_drawbridge({"check", "--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("upstreams[0].nodes[1].address: expected host:port, got \"10.0.0.7\"\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("workers: expected an integer from 0 to 256, got -1\n"), std::string::npos) << r.out;
  std::remove(path.c_str());
}

TEST(cli, unreadable_config_stops_start_up_naming_the_file) {
  const auto r = run_drawbridge({"serve", "--config", "/nonexistent/x.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("/nonexistent/x.json: cannot read the config file"), std::string::npos) << r.out;
}

TEST(cli, unresolvable_node_stops_start_up_naming_the_json_path) {
  const auto path = write_temp_file(R"({"listeners":[{"address":"127.0.0.1:0"}],
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"no-such-host.invalid:80"}]}]})");
  const auto r = run_drawbridge({"serve", "--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("upstreams[0].nodes[0].address: cannot resolve \"no-such-host.invalid\""), std::string::npos)
      << r.out;
  std::remove(path.c_str());
}

TEST(cli, port_in_use_stops_start_up_with_a_clear_error) {
  // Hold a port without SO_REUSEPORT, as another program would.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor holder(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = holder.local_endpoint().port();
  const auto path =
      write_temp_file(R"({"listeners":[{"address":"127.0.0.1:)" + std::to_string(port) +
                      R"("}], "upstreams":[{"name":"a","nodes":[{"name":"n","address":"127.0.0.1:1"}]}]})");
  const auto r = run_drawbridge({"serve", "--config", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("listeners[0].address: cannot listen on 127.0.0.1:" + std::to_string(port) +
                       ": Address already in use"),
            std::string::npos)
      << r.out;
  std::remove(path.c_str());
}

TEST(cli, an_admin_port_in_use_stops_start_up_naming_admin_address) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor holder(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = holder.local_endpoint().port();
  const auto path = write_temp_file(R"({"listeners":[{"address":"127.0.0.1:0"}],
    "admin":{"address":"127.0.0.1:)" +
                                    std::to_string(port) + R"("},
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"127.0.0.1:1"}]}]})");
  const auto r = run_drawbridge({"serve", "--config", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("admin.address: cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << r.out;
  std::remove(path.c_str());
}

TEST(cli, a_missing_token_file_or_a_broken_state_file_stops_start_up) {
  const auto path = write_temp_file(R"({"listeners":[{"address":"127.0.0.1:0"}],
    "admin":{"address":"127.0.0.1:0","token_file":"/nonexistent/tokens"},
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"127.0.0.1:1"}]}]})");
  auto r = run_drawbridge({"serve", "--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("admin.token_file: cannot read \"/nonexistent/tokens\""), std::string::npos) << r.out;
  const auto state = write_temp_file("{ not json", ".state");
  const auto with_state =
      write_temp_file(R"({"listeners":[{"address":"127.0.0.1:0"}], "state_file":")" + state +
                      R"(", "upstreams":[{"name":"a","nodes":[{"name":"n","address":"127.0.0.1:1"}]}]})");
  r = run_drawbridge({"serve", "--config", with_state});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("state_file: " + state + ": the state file is not valid"), std::string::npos) << r.out;
  for (const auto& p : {path, state, with_state}) std::remove(p.c_str());
}

TEST(cli, version_and_help_are_available) {
  const auto v = run_drawbridge({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("drawbridge 0."), std::string::npos) << v.out;
  for (const char* sub : {"serve", "check"}) {
    const auto h = run_drawbridge({sub, "--help"});
    EXPECT_EQ(h.exit_code, 0) << sub;
    EXPECT_NE(h.out.find("--config"), std::string::npos) << h.out;
  }
  for (const char* sub : {"nodes", "drain", "undrain", "rollout"}) {
    const auto h = run_drawbridge({sub, "--help"});
    EXPECT_EQ(h.exit_code, 0) << sub;
    EXPECT_NE(h.out.find("--admin"), std::string::npos) << h.out;
  }
}

TEST(cli, a_tls_listener_with_a_missing_certificate_stops_start_up_naming_the_file) {
  const auto path = write_temp_file(
      R"({"listeners":[{"address":"127.0.0.1:0","tls":{"certificates":[{"cert":"/nonexistent/a.pem","key":"/nonexistent/a.key"}]}}],
    "upstreams":[{"name":"a","nodes":[{"name":"n","address":"127.0.0.1:1"}]}]})");
  const auto r = run_drawbridge({"serve", "--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(
      r.out.find("listeners[0].tls: /nonexistent/a.pem: cannot read the certificate file: No such file or directory"),
      std::string::npos)
      << r.out;
  std::remove(path.c_str());
}
