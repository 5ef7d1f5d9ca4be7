#pragma once
// The cluster link: this replica's connection to the state several drawbridge replicas share in Redis.
//
// What Redis holds, under "drawbridge:<cluster name>:":
//   upstream:<u>   a hash per upstream: version (one more per change), state (the upstream's admin state as
//                  the state file writes it, upstream::upstream_to_json), changed_by, changed_at
//   changes        the channel each change is announced on (the message is the upstream's name)
//   replica:<id>   each replica's heartbeat (JSON: what it applied, its nodes' in-flight counts, states and
//                  health verdicts), expiring after three heartbeats
//   replicas       the set of replica ids, pruned of those whose heartbeat expired
//
// A change is proposed with the version it was decided on and recorded only if that is still the
// version (one Lua script: compare, write, publish), so two replicas deciding on the same state cannot
// both win; the loser re-reads, applies, and decides again.
//
// Control thread only. Nothing here blocks: every Redis exchange is asynchronous, and a Redis that does not
// answer within the timeout counts as down (the link reconnects with backoff, and says so through hooks).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cluster/redis_connection.hpp"
#include "conf/config.hpp"
#include "net/awaitable.hpp"
#include "upstream/state_store.hpp"

namespace drawbridge::cluster {

// One upstream's shared state as Redis holds it. Version 0 (and no state): nothing recorded yet.
struct shared_upstream {
  std::uint64_t version = 0;
  std::optional<upstream::saved_upstream> state;
  std::string changed_by;  // the replica that made the change
};

// A live replica, as its last heartbeat says.
struct replica_report {
  std::string replica;
  std::chrono::milliseconds age{0};  // since its last heartbeat
  nlohmann::json heartbeat;          // as the replica wrote it (see control_plane's heartbeat_body)
};

struct proposal_result {
  enum class outcome { committed, conflict, unavailable };
  outcome result = outcome::unavailable;
  std::uint64_t version = 0;  // committed: the new version
  shared_upstream current;    // conflict: what Redis holds now
  std::string error;          // unavailable: why
};

class cluster_link {
 public:
  struct hooks {
    // Connected (again), with every configured upstream's shared state read: apply them (and record the
    // upstreams Redis holds nothing for).
    std::function<void(const std::map<std::string, shared_upstream>&)> connected;
    // Redis is unreachable: `why`.
    std::function<void(const std::string& why)> disconnected;
    // An upstream's shared state as read after a change was announced, or on the periodic check; it may
    // be one this replica applied already (compare versions).
    std::function<void(const std::string& upstream, shared_upstream)> changed;
    // This replica's heartbeat, as JSON.
    std::function<nlohmann::json()> heartbeat;
  };

  cluster_link(const net_types::executor& ex, conf::cluster_config config, std::vector<std::string> upstreams, hooks h);
  ~cluster_link();
  cluster_link(const cluster_link&) = delete;
  cluster_link& operator=(const cluster_link&) = delete;

  // Before start(): reads the password file and sets up TLS. The problems, each naming the config key.
  std::vector<std::string> prepare();
  // Connects, and reconnects whenever the connection is lost, until stop().
  void start();
  // Leaves the cluster (its heartbeat is deleted, best effort) and closes the connections.
  void stop();

  bool started() const { return started_; }
  bool connected() const { return connected_; }
  // Has the link been connected at least once, with the shared state read?
  bool loaded() const { return loaded_; }
  const std::string& replica() const { return replica_; }
  const conf::cluster_config& config() const { return config_; }
  // Why Redis is unreachable; empty while connected.
  const std::string& last_error() const { return last_error_; }

  // Records `next` as `upstream`'s state if Redis still holds `expected` (version) for it.
  net_types::task<proposal_result> propose(std::string upstream, std::uint64_t expected, upstream::saved_upstream next);
  // Every live replica (this one included), read now; nullopt while Redis is unreachable.
  net_types::task<std::optional<std::vector<replica_report>>> replicas();
  // The other replicas as last read: refreshed every 100 ms until `until` (a cluster-wide wait is under
  // way), else with each heartbeat.
  const std::vector<replica_report>& peers() const { return peers_; }
  // When peers() was read (steady clock); a wait trusts only a view read after its change was recorded.
  std::chrono::steady_clock::time_point peers_read_at() const { return peers_read_at_; }
  void want_fresh_peers(std::chrono::steady_clock::time_point until);
  // A heartbeat at the next tick rather than at its time (after a change this replica applied).
  void beat_soon() { beat_soon_ = true; }

 private:
  net_types::task<void> run();
  net_types::task<bool> session();  // one connection's life; false when it could not connect
  net_types::task<void> listen(std::shared_ptr<redis_connection> sub);
  // An upstream's shared state, or nullopt when Redis did not answer (the connection is closed then).
  net_types::task<std::optional<shared_upstream>> read_upstream(std::string upstream);
  net_types::task<bool> write_heartbeat();
  net_types::task<bool> refresh_peers();
  net_types::task<void> farewell(std::shared_ptr<redis_connection> c);
  std::string key(const std::string& suffix) const { return prefix_ + suffix; }
  void lost(const std::string& why);

  net_types::executor ex_;
  conf::cluster_config config_;
  std::vector<std::string> upstreams_;
  hooks hooks_;
  std::string replica_;
  std::string prefix_;
  redis_connection::options options_;
  std::shared_ptr<redis_connection> commands_;
  std::shared_ptr<redis_connection> subscription_;
  net_types::timer wake_;
  bool started_ = false;
  bool stopping_ = false;
  bool connected_ = false;
  bool loaded_ = false;
  bool beat_soon_ = false;
  std::string last_error_;
  std::vector<replica_report> peers_;
  std::chrono::steady_clock::time_point peers_read_at_{};
  std::chrono::steady_clock::time_point fresh_peers_until_{};
};

}  // namespace drawbridge::cluster
