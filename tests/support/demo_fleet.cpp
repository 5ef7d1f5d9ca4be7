#include "tests/support/demo_fleet.hpp"

#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "tests/support/wait.hpp"

namespace drawbridge::testing {

demo_fleet::demo_fleet(const std::string& boot, const std::string& version) {
  char pattern[] = "/tmp/drawbridge-fleet-XXXXXX";
  dir_ = ::mkdtemp(pattern);
  script_ = dir_ + "/restart-node";
  std::ofstream(script_) << "#!/bin/sh\n"
                            "# restart-node NAME ADDRESS: stop demo node NAME, start it again on ADDRESS\n"
                            "set -e\n"
                            "dir="
                         << dir_
                         << "\n"
                            "if [ -f \"$dir/$1.pid\" ]; then\n"
                            "  pid=$(cat \"$dir/$1.pid\")\n"
                            "  kill -TERM \"$pid\" 2>/dev/null || true\n"
                            "  while kill -0 \"$pid\" 2>/dev/null; do sleep 0.02; done\n"
                            "  echo \"stopped $1\"\n"
                            "fi\n"
                            "" DEMO_NODE_BINARY " --name \"$1\" --listen \"$2\" --start-delay \"${BOOT:-"
                         << boot << "}\""
                         << (version.empty() ? std::string() : " --version \"${NODE_VERSION:-" + version + "}\"")
                         << " >\"$dir/$1.log\" 2>&1 &\n"
                            "echo $! >\"$dir/$1.pid\"\n"
                            "echo \"started $1 on $2\"\n";
  std::filesystem::permissions(script_, std::filesystem::perms::owner_all);
  for (int i = 1; i <= 3; ++i) {
    const std::string name = "node" + std::to_string(i);
    const std::string command = "BOOT=0s " + script_ + " " + name + " 127.0.0.1:0 >/dev/null";
    if (std::system(command.c_str()) != 0) continue;
    ports_.push_back(read_port(name));
  }
}

demo_fleet::~demo_fleet() {
  std::vector<pid_t> running;
  for (int i = 1; i <= 3; ++i) {
    std::ifstream pid_file(dir_ + "/node" + std::to_string(i) + ".pid");
    pid_t pid = 0;
    if (pid_file >> pid && pid > 0 && ::kill(pid, SIGTERM) == 0) running.push_back(pid);
  }
  // Not our children (the script's shell started them), so no waitpid: gone is when signals find nobody.
  wait_for([&] {
    for (const pid_t pid : running)
      if (::kill(pid, 0) == 0 || errno != ESRCH) return false;
    return true;
  });
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::uint16_t demo_fleet::read_port(const std::string& name) {
  std::uint16_t port = 0;
  wait_for([&] {
    std::ifstream log(dir_ + "/" + name + ".log");
    std::string line;
    std::getline(log, line);
    const auto colon = line.rfind(':');
    if (colon == std::string::npos) return false;
    port = static_cast<std::uint16_t>(std::atoi(line.c_str() + colon + 1));
    return port != 0;
  });
  return port;
}

}  // namespace drawbridge::testing
