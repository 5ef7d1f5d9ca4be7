#include "upstream/balancer.hpp"

namespace drawbridge::upstream {
namespace {

bool available(const node& n, int index, tried_set tried) {
  return n.eligible() && (tried & (tried_set{1} << index)) == 0;
}

}  // namespace

round_robin_balancer::round_robin_balancer(std::vector<std::shared_ptr<node>> nodes)
    : nodes_(std::move(nodes)), current_(nodes_.size(), 0) {}

int round_robin_balancer::pick(tried_set tried) {
  int best = no_node;
  std::int64_t total = 0;
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
    if (!available(*nodes_[i], i, tried)) continue;
    const auto weight = static_cast<std::int64_t>(nodes_[i]->weight());
    current_[i] += weight;
    total += weight;
    if (best == no_node || current_[i] > current_[best]) best = i;
  }
  if (best != no_node) current_[best] -= total;
  return best;
}

least_request_balancer::least_request_balancer(std::vector<std::shared_ptr<node>> nodes, std::uint64_t seed)
    : nodes_(std::move(nodes)), state_(seed | 1) {
  candidates_.reserve(nodes_.size());
}

std::uint64_t least_request_balancer::next_random() {
  // xorshift64*: fast, and good enough to pick between a handful of nodes.
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return state_ * 0x2545F4914F6CDD1DULL;
}

int least_request_balancer::pick(tried_set tried) {
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
  // Compare in_flight/weight without division: a.load * b.weight vs b.load * a.weight.
  const auto load_a = a.in_flight.load(std::memory_order_relaxed) * static_cast<std::int64_t>(b.weight());
  const auto load_b = b.in_flight.load(std::memory_order_relaxed) * static_cast<std::int64_t>(a.weight());
  return load_b < load_a ? candidates_[second] : candidates_[first];
}

std::unique_ptr<balancer> make_balancer(conf::balance_kind kind, std::vector<std::shared_ptr<node>> nodes,
                                        std::uint64_t seed) {
  if (kind == conf::balance_kind::least_request)
    return std::make_unique<least_request_balancer>(std::move(nodes), seed);
  return std::make_unique<round_robin_balancer>(std::move(nodes));
}

}  // namespace drawbridge::upstream
