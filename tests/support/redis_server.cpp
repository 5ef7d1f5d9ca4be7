#include "tests/support/redis_server.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <vector>

#include "tests/support/free_port.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/wait.hpp"

extern char** environ;

namespace drawbridge::testing {

redis_server::redis_server(transport t) : transport_(t) {
  if (transport_ != transport::unix_socket) port_ = free_port();
}

redis_server::~redis_server() {
  resume();
  stop();
}

std::string redis_server::url() const {
  if (transport_ == transport::tcp) return "redis://127.0.0.1:" + std::to_string(port_) + "/0";
  if (transport_ == transport::tls) return "rediss://127.0.0.1:" + std::to_string(port_) + "/0";
  return "unix://" + dir_.file("redis.sock");
}

bool redis_server::start() {
  if (pid_ > 0) return true;
  std::vector<std::string> args{"redis-server",        "--save", "",      "--appendonly", "no",
                                "--daemonize",         "no",     "--dir", dir_.path(),    "--logfile",
                                dir_.file("redis.log")};
  if (transport_ == transport::tcp) {
    args.insert(args.end(), {"--port", std::to_string(port_), "--bind", "127.0.0.1"});
  } else if (transport_ == transport::tls) {
    args.insert(args.end(), {"--port", "0", "--tls-port", std::to_string(port_), "--bind", "127.0.0.1",
                             "--tls-cert-file", tls_cert_, "--tls-key-file", tls_key_, "--tls-auth-clients", "no"});
  } else {
    args.insert(args.end(), {"--port", "0", "--unixsocket", dir_.file("redis.sock"), "--unixsocketperm", "700"});
  }
  if (!password_.empty()) args.insert(args.end(), {"--requirepass", password_});
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (::posix_spawnp(&pid, "redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
    error_ = "cannot start redis-server (is it installed? scripts/install-deps): " + std::string(std::strerror(errno));
    return false;
  }
  pid_ = pid;
  auto up = [&] {
    return transport_ == transport::tls || !password_.empty() ? cli("PING").find("PONG") == 0 : answers_ping();
  };
  if (!wait_for(up, std::chrono::seconds(10), std::chrono::milliseconds(20))) {
    error_ = "redis-server did not answer PING within 10 s";
    stop();
    return false;
  }
  return true;
}

void redis_server::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  if (transport_ == transport::unix_socket) ::unlink(dir_.file("redis.sock").c_str());
}

void redis_server::pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void redis_server::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

bool redis_server::answers_ping() const {
  int fd = -1;
  if (transport_ == transport::tcp) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port_);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return false;
    }
  } else {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    const auto path = dir_.file("redis.sock");
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return false;
    }
  }
  timeval limit{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  const char ping[] = "PING\r\n";
  std::array<char, 16> answer{};
  const bool ok = ::write(fd, ping, sizeof ping - 1) == static_cast<ssize_t>(sizeof ping - 1) &&
                  ::read(fd, answer.data(), answer.size()) >= 5 && std::strncmp(answer.data(), "+PONG", 5) == 0;
  ::close(fd);
  return ok;
}

std::string redis_server::cli(const std::string& command) const {
  std::string where =
      transport_ == transport::unix_socket ? "-s " + dir_.file("redis.sock") : "-p " + std::to_string(port_);
  if (transport_ == transport::tls) where += " --tls --cacert " + tls_ca_;
  if (!password_.empty()) where += " --no-auth-warning -a " + password_;
  const auto result = run_shell("redis-cli " + where + " " + command + " 2>&1");
  return result.exit_code == 0 ? result.out : std::string();
}

}  // namespace drawbridge::testing
