#pragma once
// Runs drawbridge for a test: in-process (proxy_under_test) or as the real binary (spawned_proxy),
// always on 127.0.0.1 with port 0, the bound port read back.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "admin/control_plane.hpp"
#include "conf/config.hpp"
#include "proxy/server.hpp"
#include "tests/support/test_certs.hpp"

namespace drawbridge::testing {

// One worker, one listener on 127.0.0.1:0, one upstream "app" over the given node ports, the access log
// off, and timeouts short enough for tests.
conf::config test_config(const std::vector<std::uint16_t>& node_ports);

// test_config plus the admin API on 127.0.0.1:0 and, with `health_checks`, active checks every 50 ms
// (thresholds 2 and 2) that expect Appsmith's health answer.
conf::config admin_test_config(const std::vector<std::uint16_t>& node_ports, bool health_checks = true);

// Makes the config's first listener HTTPS with `certs` (and `hsts` as its Strict-Transport-Security).
void use_tls(conf::config& config, const std::vector<pem_files>& certs, std::string hsts = {});

class proxy_under_test {
 public:
  explicit proxy_under_test(conf::config config);
  explicit proxy_under_test(const std::vector<std::uint16_t>& node_ports) : proxy_under_test(test_config(node_ports)) {}
  // So that proxy_under_test p({a.port(), b.port()}) is not mistaken for an aggregate config.
  explicit proxy_under_test(std::initializer_list<std::uint16_t> node_ports)
      : proxy_under_test(std::vector<std::uint16_t>(node_ports)) {}
  ~proxy_under_test();

  std::uint16_t port() const { return port_; }
  // The admin API's port; 0 when the config has no admin block.
  std::uint16_t admin_port() const { return admin_port_; }
  const proxy::runtime& rt() const { return *runtime_; }  // the one it started with
  proxy::server& server() { return *server_; }
  upstream::node& node(std::size_t index) const { return *runtime_->upstreams[0]->nodes()->at(index); }
  void stop() { server_->stop(); }
  void wait() { server_->wait(); }
  // Waits until every worker has completed `ticks` more ticks (proxy/worker.hpp): what a test waits on
  // for "the workers have checked deadlines and signals since this call". Two ticks make sure: the first
  // may have been under way, and read what it reads, before the call. False if they did not come within
  // `deadline` (a stopped worker ticks no more).
  bool wait_for_ticks(unsigned ticks = 2, std::chrono::milliseconds deadline = std::chrono::seconds(5)) const;

 private:
  std::shared_ptr<const proxy::runtime> runtime_;
  std::unique_ptr<admin::control_plane> control_;
  std::unique_ptr<proxy::server> server_;
  std::uint16_t port_ = 0;
  std::uint16_t admin_port_ = 0;
};

// A config for the real binary: `workers` workers on 127.0.0.1:0, one upstream "app" with one node.
std::string single_node_config_json(std::uint16_t node_port, unsigned workers = 1);

// The real binary with a config written to a temporary file.
class spawned_proxy {
 public:
  // `stdout_fd`: where the binary's stdout goes (the caller keeps its own copy); -1 = with stderr, read by
  // the harness. `extra_args` follow `serve --config FILE`. `binary`: another drawbridge binary than the
  // build's (a copy a test replaces for a binary upgrade).
  explicit spawned_proxy(const std::string& config_json, int stdout_fd = -1,
                         const std::vector<std::string>& extra_args = {}, const std::string& binary = {});
  ~spawned_proxy();

  bool started() const { return port_ != 0; }
  std::uint16_t port() const { return port_; }
  std::uint16_t admin_port() const { return admin_port_; }  // when the config has an admin block
  pid_t pid() const { return pid_; }
  // The config file it was started with (a test rewrites it, then reloads).
  const std::string& config_path() const { return config_path_; }
  const std::string& output() const { return output_; }  // stderr until it reported its port
  std::string log() const;                               // everything it wrote so far (start-up included)
  // Sends SIGTERM and returns the exit status (or -1).
  int terminate();
  // Waits up to `limit` for the process to exit by itself: its exit status (-1 when a signal ended it),
  // or nullopt when it is still running.
  std::optional<int> wait_exit(std::chrono::milliseconds limit);

 private:
  std::string config_path_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::uint16_t admin_port_ = 0;
  std::string output_;
  struct shared_log;
  std::shared_ptr<shared_log> log_;
};

// For a binary upgrade's new process, which is the old process's child: once the old one exits it would
// go to init. This makes the test process a subreaper (for the rest of its life), so that it gets the new
// process instead; at the end the guard stops `pid` (SIGTERM, SIGKILL after 10 s) and reaps it.
class successor_guard {
 public:
  successor_guard();
  ~successor_guard();
  successor_guard(const successor_guard&) = delete;
  successor_guard& operator=(const successor_guard&) = delete;
  pid_t pid = -1;
};

// The demo-node binary (fake_node.hpp's answers) as a process of its own, so that a test can kill it
// with SIGKILL. With `record_header`, it prints each request's value of that header as it arrives.
class spawned_demo_node {
 public:
  explicit spawned_demo_node(const std::string& name, const std::string& record_header = {});
  ~spawned_demo_node();
  spawned_demo_node(const spawned_demo_node&) = delete;
  spawned_demo_node& operator=(const spawned_demo_node&) = delete;

  std::uint16_t port() const { return port_; }  // 0 when it did not start
  void kill9();                                 // SIGKILL, and wait for it
  std::vector<std::string> recorded() const;    // the header values it printed so far

 private:
  struct shared_output;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::shared_ptr<shared_output> output_;
  std::thread reader_;
};

struct command_result {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};
// Runs the drawbridge binary with arguments, waits for it (at most `limit`).
command_result run_drawbridge(const std::vector<std::string>& args,
                              std::chrono::milliseconds limit = std::chrono::seconds(20));

// Runs a command with /bin/sh; its exit status (-1 when killed) and its stdout and stderr together.
command_result run_shell(const std::string& command);

// Writes `text` to a fresh temporary file and returns its path.
std::string write_temp_file(const std::string& text, const std::string& suffix = ".json");

// Kilobytes of resident memory of a process: "VmRSS" or "VmHWM" from /proc/PID/status.
long memory_kib(pid_t pid, const char* field);

}  // namespace drawbridge::testing
