#pragma once
// Balancing policies. One instance per worker and upstream, so their state needs no locks;
// they read the shared nodes' atomics (eligibility, in-flight counts) only.

#include <cstdint>
#include <memory>
#include <vector>

#include "conf/config.hpp"
#include "upstream/node.hpp"

namespace drawbridge::upstream {

// Bit i set = node i was already tried for this request.
using tried_set = std::uint64_t;
static_assert(sizeof(tried_set) * 8 >= conf::max_nodes_per_upstream, "a tried_set needs a bit per node");
inline constexpr int no_node = -1;

class balancer {
 public:
  virtual ~balancer() = default;
  // Picks an eligible node that is not in `tried`; no_node when there is none. Worker thread only.
  // `now_ms` (steady clock) serves slow start: a node that became eligible less than `slow_start` ago
  // gets a share of its weight that grows linearly.
  virtual int pick(tried_set tried, std::int64_t now_ms) = 0;
};

// Smooth weighted round robin (the nginx variant): with weights 5,1,1 it yields a a b a c a a, spreading
// the heavy node's turns instead of sending it bursts. Ineligible and tried nodes sit a round out.
class round_robin_balancer final : public balancer {
 public:
  round_robin_balancer(std::vector<std::shared_ptr<node>> nodes, std::int64_t slow_start_ms);
  int pick(tried_set tried, std::int64_t now_ms) override;

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
  int pick(tried_set tried, std::int64_t now_ms) override;

 private:
  std::uint64_t next_random();
  std::vector<std::shared_ptr<node>> nodes_;
  std::int64_t slow_start_ms_;
  std::vector<int> candidates_;  // scratch, reused to avoid a per-pick allocation
  std::uint64_t state_;
};

std::unique_ptr<balancer> make_balancer(conf::balance_kind kind, std::vector<std::shared_ptr<node>> nodes,
                                        std::int64_t slow_start_ms, std::uint64_t seed);

}  // namespace drawbridge::upstream
