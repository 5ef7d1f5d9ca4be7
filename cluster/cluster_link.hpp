#pragma once
// The cluster link: this replica's connection to the state several drawbridge replicas share in Redis.
//
// What Redis holds, under "drawbridge:<cluster name>:":
//   upstream:<u>   a hash per upstream: version (one more per change), epoch (a random id written when the
//                  state is first recorded: a new epoch means a new history, whatever the version says),
//                  state (the upstream's admin state as the state file writes it, upstream::upstream_to_json),
//                  changed_by, changed_at
//   changes        the channel each change is announced on (the message is the upstream's name), and a
//                  drain's tunnel deadline ({"close_tunnels": ...})
//   replica:<id>   each replica process's heartbeat (JSON: what it applied, its nodes' in-flight counts,
//                  states and health verdicts), expiring after three heartbeats and a timeout; <id> is
//                  "<replica name>/<pid>", so that a binary upgrade's two processes count apart
//   replicas       the set of those ids, pruned of those whose heartbeat expired
//
// A change is proposed with the version it was decided on and recorded only if that is still the
// version (one Lua script: compare, write, publish), so two replicas deciding on the same state cannot
// both win; the loser re-reads, applies, and decides again.
//
// Control thread only. Nothing here blocks: every Redis exchange is asynchronous, and every call has a
// deadline (redis_connection's watchdog): a Redis that does not answer within the timeout counts as down
// (the link reconnects with backoff, and says so through hooks).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/heartbeat.hpp"
#include "cluster/redis_connection.hpp"
#include "conf/config.hpp"
#include "net/awaitable.hpp"
#include "upstream/state_store.hpp"

namespace drawbridge::cluster {

// The longest wait between two attempts at reaching Redis (the backoff doubles from 100 ms up to this,
// plus up to a quarter of jitter).
inline constexpr std::chrono::milliseconds max_reconnect_backoff{5000};

// One upstream's shared state as Redis holds it. Version 0 (and no state): nothing recorded yet.
struct shared_upstream {
  std::uint64_t version = 0;
  std::string epoch;
  // Who recorded the epoch's first state: "shared" (a replica that had applied a shared state), "file"
  // (one that had only its state file) or "config" (one that knew only its config).
  std::string origin;
  // A state recorded from what a replica had applied before: "<epoch>:<version>" of that (empty otherwise).
  std::string based_on;
  bool seed = false;  // the epoch's first record, by a replica re-recording its state, unchanged since
  std::optional<upstream::saved_upstream> state;
  std::string changed_by;  // the replica that made the change
};

// A live replica process, as its last heartbeat says.
struct replica_report {
  std::string id;                    // "<replica>/<pid>"
  std::string replica;               // its name
  std::chrono::milliseconds age{0};  // since its last heartbeat
  cluster::heartbeat heartbeat;      // as the replica wrote it
};

struct proposal_result {
  enum class outcome { committed, conflict, unavailable };
  outcome result = outcome::unavailable;
  std::uint64_t version = 0;  // committed: the new version
  std::string epoch;          // committed: the state's epoch
  shared_upstream current;    // conflict: what Redis holds now
  std::string error;          // unavailable: why; `sent`: whether the script may have run
  bool sent = false;
};

class cluster_link {
 public:
  struct hooks {
    // Connected (again), with every configured upstream's shared state read: apply them (and record the
    // upstreams Redis holds nothing for).
    std::function<void(const std::map<std::string, shared_upstream>&)> connected;
    // An upstream's shared state as read after a change was announced, or on the periodic check; it may
    // be one this replica applied already (compare versions and epochs).
    std::function<void(const std::string& upstream, shared_upstream)> changed;
    // Another replica's drain of `node` has its WebSocket tunnels go away at `at` (Unix time).
    std::function<void(const std::string& upstream, const std::string& node, std::chrono::system_clock::time_point at)>
        tunnel_deadline;
    // Any other JSON announcement ({"acme_challenge": ...}, admin/acme_manager): for whoever knows it.
    std::function<void(const nlohmann::json&)> message;
    // This replica's heartbeat (the link fills in its name and times).
    std::function<cluster::heartbeat()> heartbeat;
  };

  cluster_link(const net_types::executor& ex, conf::cluster_config config, std::vector<std::string> upstreams, hooks h);
  ~cluster_link();
  cluster_link(const cluster_link&) = delete;
  cluster_link& operator=(const cluster_link&) = delete;

  // Before start(): reads the password file and sets up TLS. The problems, each naming the config key.
  std::vector<std::string> prepare();
  // Connects, and reconnects whenever the connection is lost, until stop().
  void start();
  // Leaves the cluster (its heartbeat is deleted, best effort, within 500 ms) and closes the connections.
  void stop();
  // A config reload changed the upstreams: these are the ones read and watched from now on.
  void set_upstreams(std::vector<std::string> upstreams) { upstreams_ = std::move(upstreams); }

  bool started() const { return started_; }
  bool connected() const { return connected_; }
  // Has the link been connected at least once, with the shared state read?
  bool loaded() const { return loaded_; }
  const std::string& replica() const { return replica_; }
  // This process among the replicas: "<replica>/<pid>".
  const std::string& instance() const { return instance_; }
  const conf::cluster_config& config() const { return config_; }
  // Why Redis is unreachable; empty while connected.
  const std::string& last_error() const { return last_error_; }
  // How long a heartbeat lives in Redis: three heartbeats and a reply's timeout.
  std::chrono::milliseconds heartbeat_ttl() const;

  // Records `next` as `upstream`'s state if Redis still holds `expected` (version) for it, as a version
  // above both that and `context.floor`. Expected 0 records a first state: a new epoch, with the context's
  // origin, based_on and seed.
  struct proposal_context {
    std::string origin = "shared";
    std::string based_on;
    std::uint64_t floor = 0;
    bool seed = false;
  };
  net_types::task<proposal_result> propose(std::string upstream, std::uint64_t expected, upstream::saved_upstream next,
                                           proposal_context context);
  // One command on the link's connection, for other shared state (the ACME manager's lock and
  // certificates), its keys made with shared_key(); nullopt while Redis is unreachable (or the call failed).
  net_types::task<std::optional<reply>> call(std::vector<std::string> args);
  // Tells every replica (this one too) `message`, a JSON object, through the changes channel (fire and
  // forget; a replica that is not subscribed at that moment misses it).
  void announce(const nlohmann::json& message);
  // `suffix` under this cluster's prefix ("drawbridge:<name>:<suffix>").
  std::string shared_key(const std::string& suffix) const { return key(suffix); }
  // `upstream`'s shared state as Redis holds it now; nullopt while Redis is unreachable.
  net_types::task<std::optional<shared_upstream>> read(std::string upstream);
  // Tells the other replicas that `node`'s tunnels go away at `at` (fire and forget).
  void announce_tunnel_deadline(const std::string& upstream, const std::string& node,
                                std::chrono::system_clock::time_point at);
  // Every live replica process (this one included), read now; nullopt while Redis is unreachable. The
  // other replicas' part becomes peers().
  net_types::task<std::optional<std::vector<replica_report>>> replicas();
  // The other replica processes as last read: refreshed every 100 ms until `until` (a cluster-wide wait is
  // under way), else with each heartbeat.
  const std::vector<replica_report>& peers() const { return peers_; }
  // When peers() was read (steady clock); a wait trusts only a view read after its change was recorded.
  std::chrono::steady_clock::time_point peers_read_at() const { return peers_read_at_; }
  void want_fresh_peers(std::chrono::steady_clock::time_point until);
  // A heartbeat now rather than at its time (after a change this replica applied).
  void beat_soon();

 private:
  net_types::task<void> run();
  // One connection's life; how long it was connected (zero when it never was).
  net_types::task<std::chrono::steady_clock::duration> session();
  net_types::task<void> listen(std::shared_ptr<redis_connection> sub);
  // One pushed message: an upstream's name into `changed`, or a tunnel deadline to the hook.
  void take_announcement(const reply& r, std::set<std::string>& changed);
  net_types::task<void> heartbeats(std::shared_ptr<redis_connection> c);
  // The upstreams' shared states, read in one round trip; nullopt when Redis did not answer (the
  // connection is closed then).
  net_types::task<std::optional<std::map<std::string, shared_upstream>>> read_upstreams(std::vector<std::string> names);
  shared_upstream parse_upstream(const std::string& name, const reply& r);
  net_types::task<bool> write_heartbeat(std::shared_ptr<redis_connection> c);
  net_types::task<bool> refresh_peers();
  // The heartbeats read for `members` (GET and PTTL each, in `replies`); the ids whose heartbeat expired go
  // into `expired` as SREM commands. nullopt when a reply is missing.
  std::optional<std::vector<replica_report>> parse_replicas(const std::vector<reply>& members,
                                                            const std::vector<call_result>& replies,
                                                            std::vector<std::vector<std::string>>& expired);
  void adopt_peers_if_newer(const std::vector<replica_report>& all, std::chrono::steady_clock::time_point asked_at);
  net_types::task<void> farewell(std::shared_ptr<redis_connection> c);
  std::string key(const std::string& suffix) const { return prefix_ + suffix; }
  void lost(const std::string& why);

  net_types::executor ex_;
  conf::cluster_config config_;
  std::vector<std::string> upstreams_;
  hooks hooks_;
  std::string replica_;
  std::string instance_;
  std::string prefix_;
  redis_connection::options options_;
  std::shared_ptr<redis_connection> commands_;
  std::shared_ptr<redis_connection> subscription_;
  net_types::timer wake_;       // the session's tick, and the backoff
  net_types::timer beat_wake_;  // the heartbeat's
  bool started_ = false;
  bool stopping_ = false;
  bool connected_ = false;
  bool loaded_ = false;
  bool beat_requested_ = false;
  std::string last_error_;
  std::map<std::string, std::string> bad_states_;  // per upstream, the text last logged as not a state
  std::vector<replica_report> peers_;
  std::chrono::steady_clock::time_point peers_read_at_{};
  std::chrono::steady_clock::time_point fresh_peers_until_{};
};

}  // namespace drawbridge::cluster
