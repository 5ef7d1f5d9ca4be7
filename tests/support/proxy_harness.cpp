#include "tests/support/proxy_harness.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "proxy/access_log.hpp"
#include "tests/support/wait.hpp"

namespace drawbridge::testing {

using namespace std::chrono_literals;

conf::config test_config(const std::vector<std::uint16_t>& node_ports) {
  conf::config c;
  c.workers = 1;
  c.listeners.push_back({conf::host_port{"127.0.0.1", 0}, false, std::nullopt});
  c.timeouts.client_header = 5s;
  c.timeouts.client_idle = 10s;
  c.timeouts.connect = 2s;
  c.timeouts.read = 5s;
  c.timeouts.send = 5s;
  c.timeouts.shutdown_grace = 5s;
  conf::upstream_config up;
  up.name = "app";
  for (std::size_t i = 0; i < node_ports.size(); ++i)
    up.nodes.push_back({"node" + std::to_string(i + 1), conf::host_port{"127.0.0.1", node_ports[i]}, 1});
  c.upstreams.push_back(up);
  c.routes.push_back({std::nullopt, "/", "app"});
  c.access_log.path = "off";
  c.log_level = "warn";
  return c;
}

conf::config admin_test_config(const std::vector<std::uint16_t>& node_ports, bool health_checks) {
  auto config = test_config(node_ports);
  if (health_checks) {
    auto& hc = config.upstreams[0].health_check;
    hc.enabled = true;
    // Quick, but not so quick that a check of a healthy node times out twice in a row in a sanitizer
    // build on a busy machine (50 ms did, under TSan).
    hc.interval = 100ms;
    hc.timeout = 100ms;
    hc.healthy_threshold = 2;
    hc.unhealthy_threshold = 2;
    hc.json_pointer = "/responseMeta/success";
    hc.json_equals = "true";
  }
  config.admin.enabled = true;
  config.admin.address = {"127.0.0.1", 0};
  return config;
}

void use_tls(conf::config& config, const std::vector<pem_files>& certs, std::string hsts) {
  conf::listener_tls_config tls;
  for (const auto& c : certs) tls.certificates.push_back({c.cert, c.key});
  tls.hsts = std::move(hsts);
  config.listeners[0].tls = std::move(tls);
}

std::string single_node_config_json(std::uint16_t node_port, unsigned workers) {
  return R"({"workers":)" + std::to_string(workers) +
         R"(,"listeners":[{"address":"127.0.0.1:0"}],"access_log":{"path":"off"},
    "upstreams":[{"name":"app","nodes":[{"name":"node1","address":"127.0.0.1:)" +
         std::to_string(node_port) + R"("}]}]})";
}

proxy_under_test::proxy_under_test(conf::config config) {
  proxy::setup_operational_log(config.log_level);
  auto built = proxy::build_runtime(std::move(config));
  if (!built.value) throw std::runtime_error(built.errors.front());
  runtime_ = built.value;
  control_ = std::make_unique<admin::control_plane>(runtime_);
  if (auto errors = control_->restore(); !errors.empty()) throw std::runtime_error(errors.front());
  server_ = std::make_unique<proxy::server>(runtime_);
  server_->start();
  control_->start();
  port_ = server_->endpoints().front().port();
  if (const auto admin = control_->admin_endpoint()) admin_port_ = admin->port();
}

proxy_under_test::~proxy_under_test() {
  server_->stop();
  server_->wait();
  control_->stop();
}

bool proxy_under_test::wait_for_ticks(unsigned ticks, std::chrono::milliseconds deadline) const {
  const auto start = server_->worker_ticks();
  return wait_for(
      [&] {
        const auto now = server_->worker_ticks();
        for (std::size_t i = 0; i < start.size(); ++i)
          if (now[i] < start[i] + ticks) return false;
        return true;
      },
      deadline);
}

command_result run_shell(const std::string& command) {
  command_result result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) {
    result.out = "popen failed";
    return result;
  }
  char chunk[4096];
  while (const auto n = std::fread(chunk, 1, sizeof chunk, pipe)) result.out.append(chunk, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string write_temp_file(const std::string& text, const std::string& suffix) {
  std::string pattern = "/tmp/drawbridge-test-XXXXXX" + suffix;
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  const int fd = ::mkstemps(name.data(), static_cast<int>(suffix.size()));
  if (fd < 0) throw std::runtime_error("mkstemps failed");
  ::close(fd);
  std::ofstream(name.data()) << text;
  return name.data();
}

namespace {

// Starts `binary` with stderr (and stdout, unless `stdout_fd` is given) on a pipe; returns the pid and
// the pipe's read end.
pid_t spawn(const std::string& binary, const std::vector<std::string>& args, int& read_fd, int stdout_fd = -1) {
  // Everything the child needs is built before fork: this process has other threads (log readers, fake
  // nodes), and one of them may hold the allocator's lock at the moment of fork. A child that allocated
  // would wait for that lock forever, never reaching exec (CI saw it: a `drawbridge rollout` that printed
  // nothing for 20 s). Between fork and exec the child calls only async-signal-safe functions.
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int fds[2];
  // Close-on-exec, so that no other child inherits this pipe's write end and keeps our reader from ever
  // seeing the end of file. dup2 below clears the flag on the child's own copies 1 and 2.
  if (::pipe2(fds, O_CLOEXEC) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(stdout_fd >= 0 ? stdout_fd : fds[1], 1);
    ::dup2(fds[1], 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    return -1;
  }
  read_fd = fds[0];
  return pid;
}

// Reads what is available within `wait`; false at end of file.
bool read_some(int fd, std::string& out, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return true;
  char buf[4096];
  const auto n = ::read(fd, buf, sizeof buf);
  if (n <= 0) return false;
  out.append(buf, static_cast<std::size_t>(n));
  return true;
}

}  // namespace

struct spawned_proxy::shared_log {
  std::mutex mutex;
  std::string text;
};

spawned_proxy::spawned_proxy(const std::string& config_json, int stdout_fd, const std::vector<std::string>& extra_args,
                             const std::string& binary) {
  config_path_ = write_temp_file(config_json);
  int fd = -1;
  std::vector<std::string> args = {"serve", "--config", config_path_};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  pid_ = spawn(binary.empty() ? std::string(DRAWBRIDGE_BINARY) : binary, args, fd, stdout_fd);
  if (pid_ < 0) return;
  static constexpr std::string_view listening = "listening on 127.0.0.1:";
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!read_some(fd, output_, 100ms)) break;
    // "listening on 127.0.0.1:PORT with ..." and, with an admin block, "admin API on 127.0.0.1:PORT".
    auto port_after = [&](std::string_view marker) -> std::uint16_t {
      const auto at = output_.find(marker);
      if (at == std::string::npos) return 0;
      const auto end = output_.find_first_not_of("0123456789", at + marker.size());
      if (end == std::string::npos) return 0;
      return static_cast<std::uint16_t>(std::stoi(output_.substr(at + marker.size())));
    };
    port_ = port_after(listening);
    admin_port_ = port_after("admin API on 127.0.0.1:");
    const bool wants_admin = config_json.find("\"admin\"") != std::string::npos;
    if (port_ != 0 && (admin_port_ != 0 || !wants_admin)) break;
  }
  // Keep draining the pipe in the background (so that the proxy never blocks on a full stderr), and keep
  // what it says for tests that look at the log.
  log_ = std::make_shared<shared_log>();
  log_->text = output_;
  std::thread([fd, log = log_] {
    std::string chunk;
    while (read_some(fd, chunk, 1000ms)) {
      const std::lock_guard lock(log->mutex);
      log->text += chunk;
      chunk.clear();
    }
    ::close(fd);
  }).detach();
}

std::string spawned_proxy::log() const {
  if (!log_) return output_;
  const std::lock_guard lock(log_->mutex);
  return log_->text;
}

int spawned_proxy::terminate() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  if (wait_for([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, 10s, 50ms)) {
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

std::optional<int> spawned_proxy::wait_exit(std::chrono::milliseconds limit) {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  if (!wait_for([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, limit, 50ms)) return std::nullopt;
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

successor_guard::successor_guard() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }

successor_guard::~successor_guard() {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  int status = 0;
  if (!wait_for([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 10s, 50ms)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
}

spawned_proxy::~spawned_proxy() {
  terminate();
  ::unlink(config_path_.c_str());
}

command_result run_drawbridge(const std::vector<std::string>& args, std::chrono::milliseconds limit) {
  command_result result;
  int fd = -1;
  const pid_t pid = spawn(DRAWBRIDGE_BINARY, args, fd);
  if (pid < 0) {
    result.out = "could not start " DRAWBRIDGE_BINARY;
    return result;
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline && read_some(fd, result.out, 100ms)) {
  }
  ::close(fd);
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) != pid) {
    ::kill(pid, SIGKILL);  // still running past the deadline: a failure the exit code will show
    ::waitpid(pid, &status, 0);
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

struct spawned_demo_node::shared_output {
  std::mutex mutex;
  std::string text;
};

spawned_demo_node::spawned_demo_node(const std::string& name, const std::string& record_header) {
  std::vector<std::string> args{"--name", name, "--listen", "127.0.0.1:0"};
  if (!record_header.empty()) args.insert(args.end(), {"--record-header", record_header});
  int fd = -1;
  pid_ = spawn(DEMO_NODE_BINARY, args, fd);
  if (pid_ < 0) return;
  output_ = std::make_shared<shared_output>();
  std::string seen;
  static constexpr std::string_view listening = " listening on 127.0.0.1:";
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline && read_some(fd, seen, 100ms)) {
    const auto at = seen.find(listening);
    if (at != std::string::npos && seen.find('\n', at) != std::string::npos) {
      port_ = static_cast<std::uint16_t>(std::stoi(seen.substr(at + listening.size())));
      break;
    }
  }
  output_->text = seen;
  // Read on until the process ends (kill9 included): what it printed before dying is kept.
  reader_ = std::thread([fd, out = output_] {
    std::string chunk;
    while (read_some(fd, chunk, 200ms)) {
      const std::lock_guard lock(out->mutex);
      out->text += chunk;
      chunk.clear();
    }
    ::close(fd);
  });
}

spawned_demo_node::~spawned_demo_node() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (reader_.joinable()) reader_.join();
}

void spawned_demo_node::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  if (reader_.joinable()) reader_.join();  // the pipe's end of file: everything it printed has been read
}

std::vector<std::string> spawned_demo_node::recorded() const {
  std::vector<std::string> values;
  if (!output_) return values;
  const std::lock_guard lock(output_->mutex);
  static constexpr std::string_view marker = "recorded ";
  std::size_t at = 0;
  while ((at = output_->text.find(marker, at)) != std::string::npos) {
    const auto end = output_->text.find('\n', at);
    if (end == std::string::npos) break;  // a line still being written
    values.push_back(output_->text.substr(at + marker.size(), end - at - marker.size()));
    at = end;
  }
  return values;
}

long memory_kib(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) return std::stol(line.substr(prefix.size()));
  return -1;
}

}  // namespace drawbridge::testing
