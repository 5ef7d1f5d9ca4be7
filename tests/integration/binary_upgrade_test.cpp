// Binary upgrade on the real binary (issue 18): USR2, POST /v1/upgrade and `drawbridge upgrade` start the
// binary now on disk with the listening sockets, and the old process hands over and exits; a new binary
// that does not come up changes nothing.

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "tests/support/fake_node.hpp"
#include "tests/support/notify_socket.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/scratch_dir.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/wait.hpp"

using namespace drawbridge::testing;
namespace http = boost::beast::http;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string config_json(std::uint16_t a, std::uint16_t b, const std::string& state_file = {}) {
  json config = {{"workers", 2},
                 {"listeners", {{{"address", "127.0.0.1:0"}}}},
                 {"access_log", {{"path", "off"}}},
                 {"admin", {{"address", "127.0.0.1:0"}}},
                 {"timeouts", {{"shutdown_grace", "5s"}}},
                 {"upstreams",
                  {{{"name", "app"},
                    {"nodes",
                     {{{"name", "node1"}, {"address", "127.0.0.1:" + std::to_string(a)}},
                      {{"name", "node2"}, {"address", "127.0.0.1:" + std::to_string(b)}}}}}}}};
  if (!state_file.empty()) config["state_file"] = state_file;
  return config.dump();
}

json info(std::uint16_t admin_port) {
  test_client admin(admin_port);
  return json::parse(admin.get("/v1/info").body, nullptr, false);
}

// The inodes of the sockets listening on 127.0.0.1:port (one per worker): the same after an upgrade when
// the new process took the old one's sockets over, different had it bound its own.
std::set<std::string> listening_inodes(std::uint16_t port) {
  std::set<std::string> out;
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // the heading
  char local[32];
  std::snprintf(local, sizeof local, "0100007F:%04X", port);
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, address, remote, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> address >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
    if (address == local && state == "0A") out.insert(inode);  // 0A: LISTEN
  }
  return out;
}

// A keep-alive connection that had one request answered and then stays idle.
struct idle_connection {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket{ioc};
  explicit idle_connection(std::uint16_t port) {
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    http::request<http::empty_body> req{http::verb::get, "/idle", 11};
    req.set(http::field::host, "app.test");
    http::write(socket, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    answered = res.result_int() == 200 && res.keep_alive();
    timeval limit{10, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  }
  // True when the proxy closed it (end of file) within 10 s.
  bool closed_by_proxy() {
    char byte;
    boost::system::error_code ec;
    socket.read_some(boost::asio::buffer(&byte, 1), ec);
    return ec == boost::asio::error::eof;
  }
  bool answered = false;
};

long pid_in(const std::string& file) {
  long pid = 0;
  std::ifstream(file) >> pid;
  return pid;
}

}  // namespace

TEST(binary_upgrade, the_upgrade_command_hands_the_sockets_the_admin_api_and_a_drain_to_the_new_process) {
  successor_guard successor;
  fake_node a({.name = "a"}), b({.name = "b"});
  scratch_dir dir;
  spawned_proxy proxy(config_json(a.port(), b.port(), dir.file("state.json")));
  ASSERT_TRUE(proxy.started()) << proxy.output();
  const std::string admin_url = "http://127.0.0.1:" + std::to_string(proxy.admin_port());
  test_client admin(proxy.admin_port());
  ASSERT_EQ(admin.request(http::verb::post, "/v1/upstreams/app/nodes/node1/drain").status, 202u);
  const auto sockets = listening_inodes(proxy.port());
  ASSERT_EQ(sockets.size(), 2u);  // one per worker
  idle_connection idle(proxy.port());
  ASSERT_TRUE(idle.answered);

  // The new process reads the config file as it is on disk: with a problem in it, the upgrade fails and
  // says what the new process said.
  std::string config_text;
  {
    std::ifstream in(proxy.config_path());
    config_text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto broken = json::parse(config_text);
  broken["upstreams"][0]["nodes"][1]["address"] = "10.0.0.7";
  std::ofstream(proxy.config_path(), std::ios::trunc) << broken.dump();
  const auto refused = run_drawbridge({"upgrade", "--admin", admin_url});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.out.find("exited with status 2"), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("upstreams[0].nodes[1].address: expected host:port"), std::string::npos) << refused.out;
  std::ofstream(proxy.config_path(), std::ios::trunc) << config_text;

  const auto result = run_drawbridge({"upgrade", "--admin", admin_url});
  ASSERT_EQ(result.exit_code, 0) << result.out;
  // The new process takes changes as soon as the upgrade is answered: the old process confirmed the
  // handover before it answered.
  const auto reloaded = test_client(proxy.admin_port()).request(http::verb::post, "/v1/config/reload");
  EXPECT_EQ(reloaded.status, 200u) << reloaded.body;
  const auto now = info(proxy.admin_port());
  successor.pid = static_cast<pid_t>(now.value("pid", 0L));
  EXPECT_NE(result.out.find("upgraded: process " + std::to_string(successor.pid) +
                            " (drawbridge " DRAWBRIDGE_VERSION ") serves"),
            std::string::npos)
      << result.out;
  EXPECT_NE(successor.pid, proxy.pid());
  EXPECT_GT(successor.pid, 0);

  // The old process finishes and exits 0; the new one has the listener, the admin API and the drain.
  EXPECT_EQ(proxy.wait_exit(10s), 0);
  // The idle connection was the old process's: closed at the end of its last call, and really closed (the
  // new process holds no copy of it, or the client would never see the end).
  EXPECT_TRUE(idle.closed_by_proxy());
  // The very sockets, accept queues and all: the new process bound nothing of its own.
  EXPECT_EQ(listening_inodes(proxy.port()), sockets);
  for (int i = 0; i < 20; ++i) {
    test_client client(proxy.port());
    const auto res = client.get("/x");
    ASSERT_EQ(res.status, 200u) << res.error;
    EXPECT_EQ(json::parse(res.body)["node"], "b");  // node1 stays drained
  }
  test_client new_admin(proxy.admin_port());
  const auto node1 = json::parse(new_admin.get("/v1/upstreams/app/nodes/node1").body, nullptr, false);
  EXPECT_EQ(node1.value("admin_state", ""), "drained") << node1.dump();
  EXPECT_EQ(info(proxy.admin_port()).value("pid", 0L), successor.pid);
}

TEST(binary_upgrade, usr2_moves_the_pid_file_and_hands_the_service_manager_the_new_main_pid) {
  successor_guard successor;
  fake_node a({.name = "a"}), b({.name = "b"});
  scratch_dir dir;
  notify_socket manager(dir.file("notify"));
  ASSERT_TRUE(manager.bound());
  const auto pid_file = dir.file("drawbridge.pid");
  spawned_proxy proxy(config_json(a.port(), b.port()), -1, {"--pid-file", pid_file});
  ASSERT_TRUE(proxy.started()) << proxy.output();
  EXPECT_EQ(manager.receive(), "READY=1\nSTATUS=serving, config generation 0");
  ASSERT_EQ(pid_in(pid_file), proxy.pid());

  ASSERT_EQ(::kill(proxy.pid(), SIGUSR2), 0);
  const auto handed = manager.receive();
  ASSERT_TRUE(handed.starts_with("MAINPID=")) << handed;
  successor.pid = static_cast<pid_t>(std::stol(handed.substr(8)));
  EXPECT_NE(successor.pid, proxy.pid());
  EXPECT_EQ(pid_in(pid_file), successor.pid);  // written before it reported ready
  EXPECT_EQ(proxy.wait_exit(10s), 0);
  EXPECT_EQ(pid_in(pid_file), successor.pid);  // the old process left it alone
  test_client client(proxy.port());
  EXPECT_EQ(client.get("/x").status, 200u);
  EXPECT_EQ(info(proxy.admin_port()).value("pid", 0L), successor.pid);

  // The successor is the service's main process now: it reloads and stops as the first one did.
  ASSERT_EQ(::kill(successor.pid, SIGHUP), 0);
  EXPECT_TRUE(manager.receive().starts_with("RELOADING=1\nMONOTONIC_USEC="));
  EXPECT_EQ(manager.receive(), "READY=1\nSTATUS=serving, config generation 1");
  ASSERT_EQ(::kill(successor.pid, SIGTERM), 0);
  EXPECT_EQ(manager.receive(), "STOPPING=1");
  int status = 0;
  ASSERT_TRUE(wait_for([&] { return ::waitpid(successor.pid, &status, WNOHANG) == successor.pid; }, 10s, 50ms));
  successor.pid = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_FALSE(std::ifstream(pid_file).good());  // removed by the process it named
}

TEST(binary_upgrade, a_new_binary_that_exits_at_start_is_answered_500_with_its_output_and_the_old_keeps_serving) {
  fake_node a({.name = "a"}), b({.name = "b"});
  scratch_dir dir;
  // The proxy runs from a copy of the binary, which the test then replaces (as a package upgrade would:
  // a new file renamed over the old path) with one that fails at start.
  const auto binary = dir.file("drawbridge");
  std::filesystem::copy_file(DRAWBRIDGE_BINARY, binary);
  spawned_proxy proxy(config_json(a.port(), b.port()), -1, {}, binary);
  ASSERT_TRUE(proxy.started()) << proxy.output();
  {
    std::ofstream broken(dir.file("broken"));
    broken << "#!/bin/sh\necho 'drawbridge: this build is broken' >&2\nexit 3\n";
  }
  ASSERT_EQ(::chmod(dir.file("broken").c_str(), 0755), 0);
  ASSERT_EQ(std::rename(dir.file("broken").c_str(), binary.c_str()), 0);

  test_client admin(proxy.admin_port());
  const auto res = admin.request(http::verb::post, "/v1/upgrade");
  EXPECT_EQ(res.status, 500u) << res.body;
  const auto body = json::parse(res.body, nullptr, false);
  EXPECT_EQ(body["error"].value("code", ""), "upgrade_failed") << res.body;
  EXPECT_NE(body["error"].value("message", "").find("exited with status 3"), std::string::npos) << res.body;
  EXPECT_NE(body.value("output", "").find("this build is broken"), std::string::npos) << res.body;

  // Nothing changed: the same process serves, and takes changes again.
  test_client client(proxy.port());
  EXPECT_EQ(client.get("/x").status, 200u);
  EXPECT_EQ(info(proxy.admin_port()).value("pid", 0L), proxy.pid());
  EXPECT_EQ(admin.request(http::verb::post, "/v1/upstreams/app/nodes/node1/drain").status, 202u);
  const auto cli = run_drawbridge({"upgrade", "--admin", "http://127.0.0.1:" + std::to_string(proxy.admin_port())});
  EXPECT_NE(cli.exit_code, 0);
  EXPECT_NE(cli.out.find("this build is broken"), std::string::npos) << cli.out;
  EXPECT_EQ(proxy.terminate(), 0);
}
