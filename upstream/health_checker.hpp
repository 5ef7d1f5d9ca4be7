#pragma once
// Active health checks. Runs on the control thread's io_context: one probe loop per node of every upstream
// that has a `health_check`, one probe per node at a time, each on a kept-alive connection when the node
// allows it. Verdicts go into the node's `health` atomic, which the workers' balancers read.
//
// Control thread only, every method.

#include <boost/beast/core/flat_buffer.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/awaitable.hpp"
#include "upstream/health_rules.hpp"
#include "upstream/upstream_group.hpp"

namespace drawbridge::upstream {

// The last probe of a node, for the admin API.
struct probe_record {
  bool ok = false;
  unsigned status = 0;  // 0 when no response came
  double latency_ms = 0;
  std::string error;  // empty when ok
  std::int64_t at_unix_ms = 0;
};

// What one probe request got back.
struct probe_answer {
  unsigned status = 0;
  std::string body;
  std::string version;  // the version_affinity header's value, when the upstream has version affinity
};

class health_checker {
 public:
  health_checker(boost::asio::io_context& io, std::vector<std::shared_ptr<upstream_group>> groups);
  ~health_checker();
  health_checker(const health_checker&) = delete;
  health_checker& operator=(const health_checker&) = delete;

  // Probes every node at once, then every interval.
  void start();
  // Ends every probe loop (their coroutines finish on the io_context).
  void stop();

  // A node added at run time: health unknown, start period from now, probed at once.
  void watch(const std::shared_ptr<upstream_group>& group, const std::shared_ptr<node>& n);
  // After an undrain: health back to unknown, counters and start period restart, probed at once. A node of
  // an upstream without health checks becomes healthy right away.
  void reset(upstream_group& group, node& n);

  // A config reload: these are the upstreams now. A node that kept its upstream object keeps its probe
  // loop; one whose upstream changed gets a loop under the new settings, keeping its verdict and its
  // counts; a node no longer listed stops being checked. Under an upstream without checks every node is
  // healthy.
  void adopt(std::vector<std::shared_ptr<upstream_group>> groups);

  // The last completed probe, if any.
  std::optional<probe_record> last_probe(const node& n) const;

 private:
  struct watched;
  net_types::task<void> probe_loop(std::shared_ptr<watched> w);
  void spawn_probe_loop(const std::shared_ptr<watched>& w);
  void end(watched& w);
  net_types::task<void> probe(std::shared_ptr<watched> w);
  // One GET of `path` and its answer. Returns why it failed, empty on an answer.
  net_types::task<std::string> exchange(std::shared_ptr<watched> w, std::string path, probe_answer& answer);
  void apply(watched& w, bool passed, const std::string& why);

  boost::asio::io_context& io_;
  std::vector<std::shared_ptr<upstream_group>> groups_;
  std::map<const node*, std::shared_ptr<watched>> watched_;
  bool stopped_ = false;
};

}  // namespace drawbridge::upstream
