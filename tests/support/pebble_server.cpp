#include "tests/support/pebble_server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "tests/support/free_port.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/wait.hpp"

extern char** environ;

namespace drawbridge::testing {

namespace {

bool accepts_connections(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Spawns `args` with stdout and stderr to `log`, and `env` added to the environment.
pid_t spawn(std::vector<std::string> args, const std::string& log, const std::vector<std::string>& env) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> environment(env);
  for (char** e = environ; *e; ++e) environment.emplace_back(*e);
  std::vector<char*> envp;
  envp.reserve(environment.size() + 1);
  for (auto& e : environment) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

void end(pid_t& pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  pid = -1;
}

}  // namespace

pebble_server::pebble_server()
    : acme_port_(free_port()), management_port_(free_port()), dns_port_(free_port()), challtestsrv_port_(free_port()) {}

pebble_server::~pebble_server() { stop(); }

bool pebble_server::start() {
  if (pebble_pid_ > 0) return true;
  const auto certs = ca_.issue("pebble", "localhost", {"localhost", "IP:127.0.0.1"});
  nlohmann::json config{{"pebble",
                         {{"listenAddress", "127.0.0.1:" + std::to_string(acme_port_)},
                          {"managementListenAddress", "127.0.0.1:" + std::to_string(management_port_)},
                          {"certificate", certs.cert},
                          {"privateKey", certs.key},
                          {"httpPort", http_port_},
                          {"tlsPort", tls_port_},
                          {"ocspResponderURL", ""},
                          {"externalAccountBindingRequired", !eab_keys_.empty()}}}};
  if (!eab_keys_.empty()) config["pebble"]["externalAccountMACKeys"] = eab_keys_;
  std::ofstream(dir_.file("pebble.json")) << config.dump(2);

  if (dns_pid_ <= 0) {
    dns_pid_ = spawn({"pebble-challtestsrv", "-dns01", "127.0.0.1:" + std::to_string(dns_port_), "-defaultIPv4",
                      "127.0.0.1", "-defaultIPv6", "", "-http01", "", "-https01", "", "-tlsalpn01", "", "-management",
                      "127.0.0.1:" + std::to_string(challtestsrv_port_)},
                     dir_.file("challtestsrv.log"), {});
    if (dns_pid_ <= 0) {
      error_ = "cannot start pebble-challtestsrv (is pebble installed? scripts/install-deps)";
      return false;
    }
  }
  pebble_pid_ = spawn({"pebble", "-config", dir_.file("pebble.json"), "-dnsserver",
                       "127.0.0.1:" + std::to_string(dns_port_), "-strict=false"},
                      dir_.file("pebble.log"),
                      // No random 0-15 s sleep before each validation; badNonce on purpose only as asked.
                      {"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=" + std::to_string(nonce_reject_percent_)});
  if (pebble_pid_ <= 0) {
    error_ = "cannot start pebble (is it installed? scripts/install-deps)";
    return false;
  }
  const bool up = wait_for(
      [&] {
        return accepts_connections(acme_port_) && accepts_connections(management_port_) &&
               accepts_connections(challtestsrv_port_);
      },
      std::chrono::seconds(20), std::chrono::milliseconds(20));
  if (!up) {
    error_ = "pebble did not come up within 20 s: " + log();
    stop();
    return false;
  }
  return true;
}

void pebble_server::stop() {
  end(pebble_pid_);
  end(dns_pid_);
}

std::string pebble_server::root_file() {
  auto path = dir_.file("root.pem");
  run_shell("curl -sf --cacert " + ca_.ca_file() + " -o " + path +
            " https://127.0.0.1:" + std::to_string(management_port_) + "/roots/0");
  return path;
}

bool pebble_server::add_a_record(const std::string& host, const std::string& ip) {
  const nlohmann::json body{{"host", host}, {"addresses", {ip}}};
  const auto result = run_shell("curl -sf -X POST -d '" + body.dump() +
                                "' http://127.0.0.1:" + std::to_string(challtestsrv_port_) + "/add-a");
  return result.exit_code == 0;
}

std::string pebble_server::log() const {
  std::ifstream in(dir_.file("pebble.log"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace drawbridge::testing
