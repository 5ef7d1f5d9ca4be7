#pragma once
// Three demo nodes (the demo-node binary, fake_node.hpp's answers) as processes of their own, each
// restartable on its address by restart_script(): the script stops the node, starts it again, and the
// new one answers 502 for `boot` like a booting Appsmith node (BOOT=... overrides it). What `drawbridge rollout --exec`
// runs. The destructor stops every node (SIGTERM) and waits until each is gone.

#include <cstdint>
#include <string>
#include <vector>

namespace drawbridge::testing {

class demo_fleet {
 public:
  // With a `version`, the nodes answer as Appsmith nodes of it (demo-node --version), and the script
  // starts a node on the version in $NODE_VERSION when set: "NODE_VERSION=2 restart-node node1 ADDRESS"
  // upgrades it.
  explicit demo_fleet(const std::string& boot, const std::string& version = "");
  ~demo_fleet();
  demo_fleet(const demo_fleet&) = delete;
  demo_fleet& operator=(const demo_fleet&) = delete;

  // node1..node3's ports, in order (fewer when one did not start).
  const std::vector<std::uint16_t>& ports() const { return ports_; }
  // "restart-node NAME ADDRESS".
  const std::string& restart_script() const { return script_; }

 private:
  std::uint16_t read_port(const std::string& name);

  std::string dir_;
  std::string script_;
  std::vector<std::uint16_t> ports_;
};

}  // namespace drawbridge::testing
