#include "upstream/balancer.hpp"

namespace drawbridge::upstream {
namespace {

bool available(const node& n, int index, tried_set tried) {
  return n.eligible() && (tried & (tried_set{1} << index)) == 0;
}

}  // namespace

round_robin_balancer::round_robin_balancer(std::vector<std::shared_ptr<node>> nodes, std::int64_t slow_start_ms)
    : nodes_(std::move(nodes)), slow_start_ms_(slow_start_ms), current_(nodes_.size(), 0) {}

int round_robin_balancer::pick(const request_view& /*request*/, tried_set tried, std::int64_t now_ms) {
  int best = no_node;
  std::int64_t total = 0;
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
    if (!available(*nodes_[i], i, tried)) continue;
    // In thousandths, so that a node ramping up under slow start gets a fraction of its turns.
    const auto weight =
        static_cast<std::int64_t>(nodes_[i]->weight()) * nodes_[i]->ramp_permille(now_ms, slow_start_ms_);
    current_[i] += weight;
    total += weight;
    if (best == no_node || current_[i] > current_[best]) best = i;
  }
  if (best != no_node) current_[best] -= total;
  return best;
}

least_request_balancer::least_request_balancer(std::vector<std::shared_ptr<node>> nodes, std::int64_t slow_start_ms,
                                               std::uint64_t seed)
    : nodes_(std::move(nodes)), slow_start_ms_(slow_start_ms), state_(seed | 1) {
  candidates_.reserve(nodes_.size());
}

std::uint64_t least_request_balancer::next_random() {
  // xorshift64*: fast, and good enough to pick between a handful of nodes.
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return state_ * 0x2545F4914F6CDD1DULL;
}

int least_request_balancer::pick(const request_view& /*request*/, tried_set tried, std::int64_t now_ms) {
  candidates_.clear();
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i)
    if (available(*nodes_[i], i, tried)) candidates_.push_back(i);
  if (candidates_.empty()) return no_node;
  if (candidates_.size() == 1) return candidates_[0];
  const auto count = candidates_.size();
  const auto first = next_random() % count;
  auto second = next_random() % (count - 1);
  if (second >= first) ++second;
  const node& a = *nodes_[candidates_[first]];
  const node& b = *nodes_[candidates_[second]];
  // Compare (in_flight + 1)/weight without division: a.load * b.weight vs b.load * a.weight. The +1 (the
  // request being placed) lets slow start matter even when both nodes are idle. Weights in thousandths.
  const auto weight_a = static_cast<std::int64_t>(a.weight()) * a.ramp_permille(now_ms, slow_start_ms_);
  const auto weight_b = static_cast<std::int64_t>(b.weight()) * b.ramp_permille(now_ms, slow_start_ms_);
  const auto load_a = (a.in_flight.load(std::memory_order_relaxed) + 1) * weight_b;
  const auto load_b = (b.in_flight.load(std::memory_order_relaxed) + 1) * weight_a;
  return load_b < load_a ? candidates_[second] : candidates_[first];
}

const std::string* target_version(const std::vector<std::shared_ptr<node>>& nodes, std::int64_t now_ms,
                                  std::int64_t slow_start_ms) {
  const std::string* target = nullptr;
  std::uint64_t latest = 0;
  for (const auto& n : nodes) {
    if (!n->eligible() || n->ramp_permille(now_ms, slow_start_ms) < 1000) continue;
    if (const auto a = n->activation(); a > latest) {
      latest = a;
      target = n->version();  // null when not known yet: no target until its answers tell it
    }
  }
  return target;
}

version_choice choose_version(const std::vector<std::shared_ptr<node>>& nodes, const request_view& request,
                              tried_set tried, std::int64_t now_ms, std::int64_t slow_start_ms) {
  version_choice choice;
  const std::string* target = nullptr;
  if (request.version.empty()) {
    target = target_version(nodes, now_ms, slow_start_ms);
    if (!target) return choice;  // no target: any node
  }
  tried_set others = 0;
  bool one_left = false;
  bool busy_left = false;
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
    // Interned: nodes of one version share the pointer; the version a client names is compared by value.
    const bool match = target ? nodes[i]->version() == target : nodes[i]->runs_version(request.version);
    const auto bit = tried_set{1} << i;
    if (!match) {
      others |= bit;
    } else if (nodes[i]->eligible()) {
      if ((tried & bit) == 0) one_left = true;
      if ((request.busy & bit) != 0) busy_left = true;
    }
  }
  if (one_left)
    choice.excluded = others;
  else
    choice.wait = busy_left && !request.version.empty();  // a first visit has no version to keep: any node
  return choice;
}

version_affinity_balancer::version_affinity_balancer(std::vector<std::shared_ptr<node>> nodes,
                                                     std::unique_ptr<balancer> inner, std::int64_t slow_start_ms)
    : nodes_(std::move(nodes)), inner_(std::move(inner)), slow_start_ms_(slow_start_ms) {}

int version_affinity_balancer::pick(const request_view& request, tried_set tried, std::int64_t now_ms) {
  const auto choice = choose_version(nodes_, request, tried, now_ms, slow_start_ms_);
  if (choice.wait) return no_node;
  if (choice.excluded != 0) {
    // The chosen version's nodes only. (None there when one was drained since the choice: then any.)
    if (const int index = inner_->pick(request, tried | choice.excluded, now_ms); index != no_node) return index;
  }
  return inner_->pick(request, tried, now_ms);
}

std::unique_ptr<balancer> make_balancer(const conf::upstream_config& config, std::vector<std::shared_ptr<node>> nodes,
                                        std::uint64_t seed) {
  const auto slow_start_ms = config.slow_start.count();
  std::unique_ptr<balancer> policy;
  if (config.balance == conf::balance_kind::least_request)
    policy = std::make_unique<least_request_balancer>(nodes, slow_start_ms, seed);
  else
    policy = std::make_unique<round_robin_balancer>(nodes, slow_start_ms);
  if (!config.version_affinity.enabled) return policy;
  return std::make_unique<version_affinity_balancer>(std::move(nodes), std::move(policy), slow_start_ms);
}

}  // namespace drawbridge::upstream
