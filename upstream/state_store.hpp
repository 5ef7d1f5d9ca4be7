#pragma once
// What the operator changed at run time, kept across restarts: each node's admin state, the nodes added
// through the admin API and the configured nodes removed through it. Written on every change (temporary
// file, fsync, rename), read back at start-up, so that a node drained for an upgrade stays drained when
// drawbridge restarts in the middle of it.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/address.hpp"
#include "upstream/node.hpp"

namespace drawbridge::upstream {

struct saved_node {
  std::string name;
  conf::host_port address;
  std::uint32_t weight = 1;
  admin_state admin = admin_state::ready;
  bool added = false;  // added through the admin API (not in the config file)
};

struct saved_upstream {
  std::string name;
  std::vector<saved_node> nodes;
  std::vector<std::string> removed;  // configured nodes removed through the admin API
};

struct saved_state {
  std::vector<saved_upstream> upstreams;
};

// nullopt with `error` empty when the file does not exist (a first start); nullopt with `error` set when
// it cannot be read or parsed, or holds what neither the config nor the admin API could have made: an empty
// or repeated name, a weight outside 1 to 1000, an added node with a name the API refuses. The error names
// the file and the place in it ("upstreams[0].nodes[1].weight: ...").
std::optional<saved_state> load_state(const std::string& path, std::string& error);

// Atomic replacement: a crash leaves either the old file or the new one, never half of one. The temporary
// file (`path` + ".tmp") is created afresh, never opened through a symbolic link; whatever a crash or
// someone else left at that path is removed first.
bool save_state(const std::string& path, const saved_state& state, std::string& error);

// The names the admin API gives the nodes it adds: 1 to 64 letters, digits, '-', '_' or '.'.
bool valid_added_node_name(std::string_view name);

}  // namespace drawbridge::upstream
