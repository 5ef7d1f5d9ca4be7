#pragma once
// Balancing policies. One instance per worker and upstream, so their state needs no locks;
// they read the shared nodes' atomics (eligibility, in-flight counts) only.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.hpp"
#include "upstream/node.hpp"

namespace drawbridge::upstream {

// Bit i set = node i was already tried for this request.
using tried_set = std::uint64_t;
static_assert(sizeof(tried_set) * 8 >= conf::max_nodes_per_upstream, "a tried_set needs a bit per node");
inline constexpr int no_node = -1;

// What a balancer may look at in the request: views into the session's buffers, valid for one pick.
struct request_view {
  // The application version the request names (version affinity: its header, else its cookie); empty =
  // none, or the upstream has no version affinity.
  std::string_view version{};
  // Of the nodes in `tried`, those only at max_connections_per_node now (not tried): a version whose
  // nodes are all busy has the request wait for one of them rather than go to another version.
  tried_set busy = 0;
};

class balancer {
 public:
  virtual ~balancer() = default;
  // Picks an eligible node that is not in `tried`; no_node when there is none. Worker thread only.
  // `now_ms` (steady clock) serves slow start: a node that became eligible less than `slow_start` ago
  // gets a share of its weight that grows linearly.
  virtual int pick(const request_view& request, tried_set tried, std::int64_t now_ms) = 0;
};

// Smooth weighted round robin (the nginx variant): with weights 5,1,1 it yields a a b a c a a, spreading
// the heavy node's turns instead of sending it bursts. Ineligible and tried nodes sit a round out.
class round_robin_balancer final : public balancer {
 public:
  round_robin_balancer(std::vector<std::shared_ptr<node>> nodes, std::int64_t slow_start_ms);
  int pick(const request_view& request, tried_set tried, std::int64_t now_ms) override;

 private:
  std::vector<std::shared_ptr<node>> nodes_;
  std::int64_t slow_start_ms_;
  std::vector<std::int64_t> current_;
};

// Power of two choices: two random candidates, the one with fewer requests in flight per unit of weight
// wins. Cheap, and it avoids the herd that "always the least loaded" causes when workers see stale counts.
class least_request_balancer final : public balancer {
 public:
  least_request_balancer(std::vector<std::shared_ptr<node>> nodes, std::int64_t slow_start_ms, std::uint64_t seed);
  int pick(const request_view& request, tried_set tried, std::int64_t now_ms) override;

 private:
  std::uint64_t next_random();
  std::vector<std::shared_ptr<node>> nodes_;
  std::int64_t slow_start_ms_;
  std::vector<int> candidates_;  // scratch, reused to avoid a per-pick allocation
  std::uint64_t state_;
};

// Version affinity, as a policy around another: which nodes a request may go to.
//  - A request that names a version goes to an eligible node of that version while one is left (not yet
//    tried); it waits when those left are only busy; else it goes to any eligible node (the client will
//    refresh; the exchange counts it as a fallback once a node took it).
//  - A request that names none goes to the target version (below), or when none of its nodes is left
//    (busy ones included), to any eligible node; without a target, to any eligible node.
// Inside the chosen nodes, the wrapped policy (round robin, least request, slow start) decides.
struct version_choice {
  tried_set excluded = 0;  // nodes the request may not go to (besides those tried)
  bool wait = false;       // the version's nodes left are all busy: no node now, the request waits
};
version_choice choose_version(const std::vector<std::shared_ptr<node>>& nodes, const request_view& request,
                              tried_set tried, std::int64_t now_ms, std::int64_t slow_start_ms);
// The target version: that of the node most recently made ready by an undrain or an add (node::activation)
// among those active now (eligible and past slow start). Null when there is none, or its version is not
// known yet (then any node takes the request, and the node's answers tell its version).
const std::string* target_version(const std::vector<std::shared_ptr<node>>& nodes, std::int64_t now_ms,
                                  std::int64_t slow_start_ms);

class version_affinity_balancer final : public balancer {
 public:
  version_affinity_balancer(std::vector<std::shared_ptr<node>> nodes, std::unique_ptr<balancer> inner,
                            std::int64_t slow_start_ms);
  int pick(const request_view& request, tried_set tried, std::int64_t now_ms) override;

 private:
  std::vector<std::shared_ptr<node>> nodes_;
  std::unique_ptr<balancer> inner_;
  std::int64_t slow_start_ms_;
};

// The balancer an upstream's settings ask for (its policy, wrapped for version affinity when set).
std::unique_ptr<balancer> make_balancer(const conf::upstream_config& config, std::vector<std::shared_ptr<node>> nodes,
                                        std::uint64_t seed);

}  // namespace drawbridge::upstream
