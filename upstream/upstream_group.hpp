#pragma once
// A named pool of nodes with its balancing policy, keep-alive, health-check and ejection settings.
//
// The settings are fixed at start-up. The node list can change at run time (the admin API adds and removes
// nodes): it is an immutable snapshot replaced whole by the control thread, and workers notice a new one
// through a generation counter that they read with one relaxed load per request.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.hpp"
#include "upstream/node.hpp"

namespace boost::asio::ssl {
class context;
}

namespace drawbridge::upstream {

using node_list = std::vector<std::shared_ptr<node>>;

// Milliseconds on the steady clock: what nodes store in their atomics.
inline std::int64_t steady_ms(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline std::int64_t steady_now_ms() { return steady_ms(std::chrono::steady_clock::now()); }

// Always owned by a shared_ptr (make_shared): a worker's view of the group holds it
// (shared_from_this), so the group outlives every view of it and no view ever matches a stranger.
class upstream_group : public std::enable_shared_from_this<upstream_group> {
 public:
  upstream_group(const conf::upstream_config& config, node_list nodes,
                 std::shared_ptr<boost::asio::ssl::context> tls_context = nullptr);

  const std::string& name() const { return config_.name; }
  const conf::upstream_config& config() const { return config_; }
  // TLS to this upstream's nodes (proxied requests and health checks): the context, null when off, and the
  // name a node is asked for and checked against (`tls.sni`, else the node's host).
  boost::asio::ssl::context* tls_context() const { return tls_context_.get(); }
  std::string tls_server_name(const node& n) const {
    return config_.tls.sni.empty() ? n.host_port().host : config_.tls.sni;
  }

  // The current node list. Any thread. The snapshot stays valid as long as the caller holds it.
  std::shared_ptr<const node_list> nodes() const { return nodes_.load(std::memory_order_acquire); }
  // Bumped on every publish(); workers compare it with the generation they built their view from.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Control thread only: replaces the node list.
  void publish(node_list nodes);

  std::shared_ptr<node> find(const std::string& name) const;

  // Before anyone else sees this group: it guards ejections with `previous`'s lock (a config reload made
  // this group of the same upstream, and the two share nodes).
  void share_ejection_lock(const upstream_group& previous) { ejection_mutex_ = previous.ejection_mutex_; }

  // Nodes that would take a new request now, leaving out `except` (may be null).
  std::size_t eligible_count(const node* except) const;

  // Control thread: marks `n` draining, unless it takes requests now and draining it would leave fewer
  // than min_available nodes that do (and not `force`). Decided under the ejection lock, so that an
  // ejection on a worker cannot pass its own min_available check at the same moment. Returns nullopt
  // when drained, else the number of other nodes that take requests.
  std::optional<std::size_t> begin_drain(node& n, bool force);

  // Passive ejection, any thread. Records a failure of `n`; ejects it when the failures in a row reach
  // passive.max_failures, unless that would leave fewer than min_available eligible nodes.
  // Returns true when this call ejected the node.
  bool record_failure(node& n, std::int64_t now_ms);
  // A good answer ends the run of failures. Cheap when there was none (a load, no store).
  static void record_success(node& n) { n.count_success(); }
  // Control thread: takes back the nodes whose ejection time is over. Returns how many.
  std::size_t end_ejections(std::int64_t now_ms);
  // Control thread: takes one node back at once (its active health checks just passed again).
  void end_ejection(node& n, std::int64_t now_ms);

  // As node::warning_due, for warnings about a request no node took (no node available). Any thread.
  std::optional<std::uint64_t> warning_due(std::chrono::steady_clock::time_point now,
                                           std::chrono::milliseconds interval) const {
    return warnings_.due(now, interval);
  }

 private:
  conf::upstream_config config_;
  std::shared_ptr<boost::asio::ssl::context> tls_context_;
  std::atomic<std::shared_ptr<const node_list>> nodes_;
  std::atomic<std::uint64_t> generation_{1};
  // Serialises ejection decisions, so that two workers cannot both eject "the last but one" node. Shared
  // by every group a config reload makes of the same upstream (share_ejection_lock): they share nodes, and a
  // node's ejection record is guarded by it.
  std::shared_ptr<std::mutex> ejection_mutex_ = std::make_shared<std::mutex>();
  mutable warning_limiter warnings_;
};

struct resolve_result {
  std::vector<std::shared_ptr<upstream_group>> groups;  // in config order
  std::vector<std::string> errors;                      // "upstreams[0].nodes[1].address: cannot resolve \"x\": ..."
};

// Resolves a node's host name (blocking). Empty with `error` set when it cannot.
std::vector<boost::asio::ip::tcp::endpoint> resolve_node(const conf::host_port& address, std::string& error);

// Resolves the node host names of one upstream (blocking) and builds its group; null, with the problems
// (named upstreams[`position`]...) appended to `errors`, when it cannot.
std::shared_ptr<upstream_group> build_upstream(const conf::upstream_config& config, std::size_t position,
                                               std::vector<std::string>& errors);

// Resolves every node's host name (blocking; start-up only) and builds the groups. With active health
// checks configured, nodes start in health `unknown`; otherwise `healthy`.
resolve_result build_upstreams(const std::vector<conf::upstream_config>& upstreams);

}  // namespace drawbridge::upstream
