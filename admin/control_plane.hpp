#pragma once
// The control thread: one io_context that runs the health checker, the admin API, the end of passive
// ejections and of drains, and that owns every run-time change to the upstreams (admin state, adding and
// removing nodes) and its persistence in the state store (upstream::state_store: the state file).
//
// Threads: the constructor, restore(), start() and stop() belong to the composition root's thread; every
// other method runs on the control thread (the admin API's handlers call them).

#include <sys/types.h>
#include <atomic>
#include <boost/asio/io_context.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "admin/acme_manager.hpp"
#include "admin/http_server.hpp"
#include "admin/tokens.hpp"
#include "cluster/cluster_link.hpp"
#include "net/owned_fd.hpp"
#include "proxy/runtime.hpp"
#include "proxy/server.hpp"
#include "upstream/drain.hpp"
#include "upstream/health_checker.hpp"
#include "upstream/state_store.hpp"

namespace drawbridge::admin {

// Why an operation was refused: the HTTP status, a stable code and a sentence for people. 500
// `persist_failed` is different: the change was made, but the state file does not have it (yet).
struct refusal {
  unsigned status;
  std::string code;
  std::string message;
};

// What the process runs with: the config file and the reloads applied since start-up (GET /v1/info).
struct config_status {
  std::string path;              // the file given to `serve`; empty when there is none (tests)
  std::string sha256;            // of the file's bytes as last applied
  std::uint64_t generation = 0;  // reloads applied since start-up
  std::chrono::system_clock::time_point started_at = std::chrono::system_clock::now();  // the process's
  std::chrono::system_clock::time_point loaded_at = started_at;
  std::uint64_t reloads_ok = 0;  // since start-up, for /metrics
  std::uint64_t reloads_failed = 0;
};

// The outcome of a config reload: 200 applied; 400 the config is wrong, or asks what only a restart can
// do (nothing changed); 500 it could not be applied (nothing changed); 503 there is no config file.
struct reload_result {
  unsigned status = 200;
  std::vector<std::string> errors;
  std::uint64_t generation = 0;  // after the reload
};

// The outcome of a binary upgrade: 200 the new process serves (`pid`) and this one is on its way out; 409
// one is under way already; 500 the new process did not come up (`error`, and what it printed in
// `output`), and this one goes on serving; 503 this process cannot upgrade (no binary known, or stopping).
struct upgrade_result {
  unsigned status = 200;
  std::string error;
  std::string output;
  pid_t pid = -1;
  std::string version;  // the new process's
};

// The composition root's part of a binary upgrade.
struct upgrade_hooks {
  std::string executable;         // the binary's path as started: whatever file is there now runs
  std::vector<std::string> args;  // the command line, argv[0] first
  // Copies of the data plane's listening sockets (proxy::server::duplicate_sockets).
  std::function<proxy::server::listening_sockets()> listening_sockets;
  // Control thread, once the successor serves (the admin answer is on its way): stop this process.
  std::function<void(pid_t successor)> handed_over;
  // Control thread, when an upgrade was given up after the successor may have written the pid file.
  std::function<void()> taken_back;
};

class control_plane {
 public:
  // Puts a runtime into service in the data plane (proxy::server::publish); throws std::invalid_argument
  // when the data plane cannot take it.
  using publisher = std::function<void(std::shared_ptr<const proxy::runtime>)>;
  explicit control_plane(std::shared_ptr<const proxy::runtime> rt);
  ~control_plane();
  control_plane(const control_plane&) = delete;
  control_plane& operator=(const control_plane&) = delete;

  // Before the data plane starts: applies the state file (admin states, added and removed nodes) and
  // reads the admin token file. Returns the problems, each naming the file or JSON path.
  std::vector<std::string> restore();
  // Binds the admin listener (when configured) and starts the health checks and the control thread.
  // Throws std::runtime_error naming `admin.address` when it cannot listen.
  void start();
  void stop();
  // Where the admin API listens (port 0 resolved); nullopt without an admin listener.
  std::optional<boost::asio::ip::tcp::endpoint> admin_endpoint() const { return admin_endpoint_; }

  // Before start(): how upgrade() starts the binary on disk and what it does once that serves.
  void enable_upgrade(upgrade_hooks hooks) { upgrade_hooks_ = std::move(hooks); }
  // Before start(), in a binary upgrade's successor: the admin API accepts on this socket (the old
  // process's) instead of binding its address; and the old process's health verdicts ({"upstream":
  // {"node": "healthy" | "unhealthy" | "unknown"}}) hold for nodes of the same name until their own
  // first probe.
  void inherit_admin_socket(owned_fd fd, std::string configured_as) {
    inherited_admin_ = std::move(fd);
    inherited_admin_address_ = std::move(configured_as);
  }
  void adopt_health(const nlohmann::json& verdicts);
  // Before start(), in a successor: no change is taken (503, as in the old process during the upgrade)
  // and the state file is not written until the old process confirms the handover on `confirm` ("go", or
  // end of file: it is gone), since it may still give the upgrade up and serve on with its own state.
  void await_confirmation(owned_fd confirm);
  // Any thread (SIGTERM, SIGINT): the process is stopping; an upgrade under way is given up, none starts.
  void shutting_down();

  // Before start(): where reload() reads the config (`path`, as given to `serve`; its bytes are hashed
  // for /v1/info) and how it hands a new runtime to the data plane.
  void enable_reload(std::string path, publisher publish);

  // --- control thread only ---
  // Reads the config file again and applies it whole (see reload_result), keeping the admin state,
  // health verdicts and counts of every node that stays. `options.reopen_log`: the access log is opened
  // afresh even if its config did not change (SIGUSR1, after logrotate moved the file).
  reload_result reload(proxy::build_options options = {});
  const config_status& config_state() const { return config_status_; }
  // Starts the binary now on disk (same path, same arguments) with this process's listening sockets and
  // admin socket, and waits (up to process::upgrade_ready_timeout) until it reports ready; see upgrade_result.
  // From the start on, changes (admin calls, reloads) are refused and the state file is left to the
  // successor; if it fails, both come back.
  net_types::task<upgrade_result> upgrade();
  // An upgrade is under way, or done and this process is on its way out, or this process is a successor
  // not confirmed yet: changes are refused.
  // A successor looks at its confirmation first: an operator's call right after the upgrade answered must
  // not be refused for want of a tick.
  bool upgrading() {
    if (confirmation_) check_confirmation();
    return upgrading_;
  }
  // Verdicts of every node by upstream and node name (what adopt_health takes).
  nlohmann::json health_verdicts() const;
  // The access log file opened afresh, with the config in service (SIGUSR1, after logrotate moved the
  // file away). The problem, if it could not be.
  std::optional<std::string> reopen_logs();
  boost::asio::io_context& io() { return io_; }
  const proxy::runtime& rt() const { return *runtime_; }
  const token_set& tokens() const { return tokens_; }
  const upstream::health_checker& checker() const { return checker_; }
  // Automatic certificates (tls.acme listeners).
  acme_manager& acme() { return *acme_; }
  const acme_manager& acme() const { return *acme_; }
  std::shared_ptr<upstream::upstream_group> find_upstream(const std::string& name) const;
  // Every upstream has at least one node that takes requests.
  bool ready() const;
  bool stopping() const { return stopping_; }

  // --- cluster mode (config `cluster`; admin/control_plane_cluster.cpp) ---
  // The link to the replicas' shared state; null without `cluster`.
  cluster::cluster_link* cluster() const { return link_.get(); }
  // The version of `upstream`'s shared state this replica has applied (0: none, or no cluster).
  std::uint64_t shared_version(const std::string& upstream) const;
  // A cluster-wide wait's condition: every other live replica, as read at or after `since`, has applied
  // `version` of the upstream and, for a drain (`active` false), sends `node` no new request and has nothing
  // in flight on it; for an undrain, shows it active. True without a cluster; false while Redis is
  // unreachable (nothing can be known then).
  bool peers_settled(const std::string& upstream, const std::string& node, std::uint64_t version, bool active,
                     std::chrono::steady_clock::time_point since) const;
  // What this replica tells the others with each heartbeat: applied versions, and per node its state,
  // health verdict and in-flight count.
  cluster::heartbeat heartbeat_body() const;
  // Whether this replica serves with a known admin state: the shared one read from Redis at least once,
  // or the state file's. False in cluster mode until then (/readyz answers 503 "loading").
  bool state_known() const;

  // No new requests to the node; in-flight ones finish; workers close its idle connections. Refused
  // (409 min_available) when the node takes requests and draining it would leave fewer than
  // min_available that do, unless `force`.
  //
  // This and the other changes below complete once the state store has the change: they answer 500
  // persist_failed when it could not be saved (after the change, or after an earlier one): the change holds
  // in memory, and the control thread retries the save every second, but a restart before it succeeds
  // would forget it. The save runs off the control thread; the caller's coroutine waits for it. The
  // references must outlive the coroutine (the admin API holds the node and the upstream).
  net_types::task<std::optional<refusal>> drain(upstream::upstream_group& group, upstream::node& n, bool force);
  // Back into rotation once its health checks pass again (healthy_threshold in a row).
  net_types::task<std::optional<refusal>> undrain(upstream::upstream_group& group, upstream::node& n);
  // At `deadline`, a node still draining has its WebSocket tunnels go away with a close frame (1001), so
  // that their clients reconnect through drawbridge to other nodes (upstream::drain_machine).
  // In a cluster the other replicas are told too (their tunnels to the node go at the same time).
  void close_tunnels_at(const upstream::upstream_group& group, const upstream::node& n,
                        std::chrono::steady_clock::time_point deadline);
  // A drain's deadline passed (the caller's wait ran out): the tunnels are asked to go now, if the tick has
  // not done it yet. The workers act within a tick and the tunnels end within upstream::tunnel_close_limit;
  // while any remain the tick asks again. Returns how many were open.
  std::int64_t close_tunnels(upstream::upstream_group& group, upstream::node& n);
  // A new node, warming until its checks pass. 409 when the name exists, 400 for a bad address.
  net_types::task<std::variant<std::shared_ptr<upstream::node>, refusal>> add_node(
      std::shared_ptr<upstream::upstream_group> group, std::string name, std::string address, std::uint32_t weight);
  // Drains the node and removes it once nothing is in flight on it.
  net_types::task<std::optional<refusal>> remove_node(upstream::upstream_group& group,
                                                      std::shared_ptr<upstream::node> n, bool force);
  bool removal_pending(const upstream::node& n) const { return drains_.removal_pending(n); }

 private:
  // Cluster mode: the link and what its hooks do.
  void make_cluster_link();
  // Start-up: waits (up to cluster_load_timeout) for the shared state, which then replaces the state file's.
  void load_shared_state(std::optional<upstream::saved_state> from_file);
  // A shared state read from Redis: applied when newer (or of a new epoch); when Redis holds nothing, or
  // an older version of the same epoch (it went back in time), this replica's state is recorded instead.
  void consider_shared(const std::string& upstream, const cluster::shared_upstream& s);
  // Makes the upstream's nodes what the shared state says (before start: as restore does). `again`: even
  // if that version was applied already (this replica's nodes may not have it all).
  void apply_shared(const std::string& upstream, const cluster::shared_upstream& s, bool again = false);
  // Records this replica's state of `upstream` over version `expected` (0: Redis holds nothing), unless
  // another replica's gets there first.
  net_types::task<void> record_ours(std::string upstream, std::uint64_t expected);
  void tunnel_deadline(const std::string& upstream, const std::string& node, std::chrono::system_clock::time_point at);
  // The budget on the other replicas: a refusal (409) when taking `n` out would leave one of them with
  // fewer than min_available nodes it sends requests to (its heartbeat), or (503 replicas_behind) when one
  // has not applied the shared state the change is decided on. `next` is that state, being changed.
  // The whole budget of taking `n` out in a cluster (a drain or removal that is not forced): here, then on
  // the other replicas (peers_budget).
  std::optional<refusal> shared_budget(const upstream::upstream_group& group, const upstream::node& n,
                                       const upstream::saved_upstream& next) const;
  std::optional<refusal> peers_budget(const upstream::upstream_group& group, const upstream::node& n,
                                      const upstream::saved_upstream& next) const;
  std::optional<std::size_t> index_of(const upstream::upstream_group& group) const;
  // Some upstream's shared state has been read or recorded (a version above 0).
  bool shared_recorded() const;
  // What this replica's state comes from, for a first record: "shared", "file" or "config".
  std::string knowledge() const;
  // `s` is of the same epoch as `known`, and older: Redis went back in time.
  static bool behind(const cluster::shared_upstream& s, const cluster::shared_upstream& known);
  // `s` is a seed of another epoch, recorded by a replica that knew less than this one (its config or
  // state file against a shared state; less of the same history).
  bool better_than(const cluster::shared_upstream& s, const cluster::shared_upstream& known) const;
  // What a proposal from this replica says of its knowledge: origin, based_on, floor.
  cluster::cluster_link::proposal_context proposal_context_for(const std::string& upstream) const;
  // An operator's change in cluster mode: `edit` makes it on the shared state (refusing it, or saying it
  // changes nothing), the result is proposed on the version this replica applied, and once recorded it is
  // applied here. A conflict (another replica changed the upstream) applies theirs and decides again.
  // `budget`: the edit calls shared_budget (a drain or removal that is not forced), which needs the other
  // replicas' heartbeats as they are now.
  using shared_edit = std::function<std::optional<refusal>(upstream::saved_upstream&, bool& changes)>;
  net_types::task<std::optional<refusal>> shared_change(upstream::upstream_group& group, shared_edit edit,
                                                        bool budget = false);
  // A saved state, applied before the data plane starts (from the state file or from Redis).
  void restore_upstream(const upstream::saved_upstream& saved, const char* source);
  upstream::saved_upstream snapshot_upstream(std::size_t index) const;
  // Runs the tick loop, and again should an exception escape it.
  void spawn_tick_loop();
  net_types::task<void> tick_loop();
  // The drain itself (no save): nullopt once the node is draining or drained, else the 409.
  std::optional<refusal> begin_drain(upstream::upstream_group& group, upstream::node& n, bool force);
  // Something the state store keeps changed.
  void changed() { ++changes_; }
  bool unsaved() const { return saved_ < changes_; }
  // What the state store keeps, as memory holds it now.
  upstream::saved_state snapshot() const;
  // Asks the store to save the current state; returns the attempt's number (saves_done_ reaches it once
  // the attempt completed). Without a store, memory is all there is: saved at once.
  std::uint64_t start_save();
  void on_saved(std::uint64_t version, std::uint64_t attempt, const std::string& error);
  // After an operator's change: saves when needed and waits for it; says so if the store still lags behind.
  net_types::task<std::optional<refusal>> persisted(std::string change);
  // Resumes when the next save completes.
  net_types::task<void> next_save_completion();
  // A successor: has the old process confirmed the handover? (tick_loop, while confirmation_ is open)
  void check_confirmation();
  // reload()'s last step, once nothing can fail any more.
  void commit(std::shared_ptr<const proxy::runtime> next);
  std::optional<refusal> refuse_addition(const upstream::upstream_group& group, const std::string& name,
                                         const std::optional<conf::host_port>& hp, const std::string& address,
                                         std::uint32_t weight) const;

  // The runtime being served (replaced by reload(); the control thread's copy of the data plane's).
  std::shared_ptr<const proxy::runtime> runtime_;
  publisher publish_;
  config_status config_status_;
  boost::asio::io_context io_;
  upstream::health_checker checker_;
  std::unique_ptr<acme_manager> acme_;
  upstream::drain_machine drains_;
  token_set tokens_;
  std::unique_ptr<http_server> server_;
  std::optional<boost::asio::ip::tcp::endpoint> admin_endpoint_;
  net_types::timer tick_timer_;
  // Null without a state_file. After io_: destroyed (its writer joined) while the io_context still exists.
  std::unique_ptr<upstream::state_store> store_;
  std::uint64_t changes_ = 0;                    // changes made, counted
  std::uint64_t saved_ = 0;                      // the count the store is known to hold
  std::uint64_t saves_asked_ = 0;                // save attempts started
  std::uint64_t saves_done_ = 0;                 // ... and completed (they complete in order)
  std::vector<net_types::timer*> save_waiters_;  // woken by each completion
  std::chrono::steady_clock::time_point next_save_attempt_{};
  std::string save_error_;  // why the last save failed; empty after a success
  // Access logs of runtimes a reload replaced, let go here once nothing else holds them (tick_loop).
  std::vector<std::shared_ptr<proxy::access_log>> retired_logs_;
  bool stopping_ = false;
  // The binary upgrade: its hooks (none: upgrade() answers 503), whether one is under way or done, and
  // whether the state file is the successor's (no save from here while it reads it, or ever after).
  std::optional<upgrade_hooks> upgrade_hooks_;
  bool upgrading_ = false;
  bool saves_held_ = false;
  std::atomic<bool> shutting_down_{false};
  owned_fd inherited_admin_;
  std::string inherited_admin_address_;
  owned_fd confirmation_;  // a successor's, until the old process confirmed (tick_loop)
  // Cluster mode: the link (after io_: its timers use it), and per upstream the shared state last applied.
  std::unique_ptr<cluster::cluster_link> link_;
  std::map<std::string, cluster::shared_upstream> shared_;
  std::set<std::string> seeding_;
  std::set<std::string> incomplete_;  // upstreams whose shared state this replica could not apply whole
  std::map<std::string, std::chrono::steady_clock::time_point> empty_since_;  // Redis seen holding nothing
  bool file_applied_ = false;  // start-up applied the state file's state (Redis unreachable, or empty)
  bool started_ = false;
  std::thread thread_;
};

}  // namespace drawbridge::admin
