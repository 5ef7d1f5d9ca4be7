#pragma once
// What the operator changed at run time, kept across restarts: each node's admin state, the nodes added
// through the admin API and the configured nodes removed through it; the state_store interface that keeps
// it, and the file format of the embedded store (file_state_store.hpp). Saved on every change, read back
// at start-up, so that a node drained for an upgrade stays drained when drawbridge restarts in the middle
// of it.

#include <functional>
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

// Where the admin state is kept across restarts (and, with a shared store, across replicas). The local
// file is the embedded default (file_state_store.hpp); a shared store (Redis) is the next implementation.
// The control thread owns the store: every method is called there, and every handler runs there.
class state_store {
 public:
  // Empty when the snapshot is kept; else why not, naming the file or the place.
  using save_handler = std::function<void(const std::string& error)>;
  using watch_handler = std::function<void(saved_state)>;

  virtual ~state_store() = default;

  // Start-up, before the control thread runs (may block). nullopt with `error` empty when nothing was
  // saved yet (a first start); nullopt with `error` set when the store cannot be read or holds what
  // neither the config nor the admin API could have made (see load_state below).
  virtual std::optional<saved_state> load(std::string& error) = 0;
  // Keeps `snapshot` without blocking the caller; `done` runs on the control thread once it is kept or
  // has failed. Saves coalesce: a snapshot replaced by a newer one before it was written is never
  // written, and its `done` gets the newer one's outcome (that one holds its changes too). Every `done`
  // runs once, in the order the saves were asked, unless the control thread stops first.
  virtual void save(saved_state snapshot, save_handler done) = 0;
  // `changed` runs with the whole state when another writer (another replica) changed it. A store with
  // one writer may never call it.
  virtual void watch(watch_handler changed) = 0;
  // For log lines and errors: "state file /var/lib/drawbridge/state.json".
  virtual std::string describe() const = 0;
};

// The file format. nullopt with `error` empty when the file does not exist (a first start); nullopt with
// `error` set when it cannot be read or parsed, or holds what neither the config nor the admin API could have made: an
// empty or repeated name, a weight outside 1 to 1000, an added node with a name the API refuses. The error names the
// file and the place in it ("upstreams[0].nodes[1].weight: ...").
std::optional<saved_state> load_state(const std::string& path, std::string& error);

// Atomic replacement: a crash leaves either the old file or the new one, never half of one. The temporary
// file (`path` + ".tmp") is created afresh, never opened through a symbolic link; whatever a crash or
// someone else left at that path is removed first.
bool save_state(const std::string& path, const saved_state& state, std::string& error);

// One upstream's state as compact JSON (an element of the state file's "upstreams"), and back with the
// state file's checks: cluster mode keeps each upstream in Redis this way (cluster/cluster_link.hpp).
std::string upstream_to_json(const saved_upstream& u);
std::optional<saved_upstream> upstream_from_json(std::string_view text, std::string& error);

// The names the admin API gives the nodes it adds: 1 to 64 letters, digits, '-', '_' or '.'.
bool valid_added_node_name(std::string_view name);

}  // namespace drawbridge::upstream
