#pragma once
// The control thread: one io_context that runs the health checker, the admin API, the end of passive
// ejections and of drains, and that owns every run-time change to the upstreams (admin state, adding and
// removing nodes) and its persistence in the state file.
//
// Threads: the constructor, restore(), start() and stop() belong to the composition root's thread; every
// other method runs on the control thread (the admin API's handlers call them).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "admin/http_server.hpp"
#include "admin/tokens.hpp"
#include "proxy/runtime.hpp"
#include "upstream/health_checker.hpp"

namespace drawbridge::admin {

// Why an operation was refused: the HTTP status, a stable code and a sentence for people. 500
// `persist_failed` is different: the change was made, but the state file does not have it (yet).
struct refusal {
  unsigned status;
  std::string code;
  std::string message;
};

class control_plane {
 public:
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

  // --- control thread only ---
  boost::asio::io_context& io() { return io_; }
  const proxy::runtime& rt() const { return *runtime_; }
  const token_set& tokens() const { return tokens_; }
  const upstream::health_checker& checker() const { return checker_; }
  std::shared_ptr<upstream::upstream_group> find_upstream(const std::string& name) const;
  // Every upstream has at least one node that takes requests.
  bool ready() const;
  bool stopping() const { return stopping_; }

  // No new requests to the node; in-flight ones finish; workers close its idle connections. Refused
  // (409 min_available) when the node takes requests and draining it would leave fewer than
  // min_available that do, unless `force`.
  //
  // This and the other changes below answer 500 persist_failed when the state file could not be written
  // (after the change, or after an earlier one): the change holds in memory, and the control thread
  // retries the save every second, but a restart before it succeeds would forget it.
  std::optional<refusal> drain(upstream::upstream_group& group, upstream::node& n, bool force);
  // Back into rotation once its health checks pass again (healthy_threshold in a row).
  std::optional<refusal> undrain(upstream::upstream_group& group, upstream::node& n);
  // A drain's deadline passed while the node still has WebSocket tunnels open: each goes away with a close
  // frame (1001), so its client reconnects through drawbridge to another node. The workers act within a
  // tick and the tunnels end within upstream::tunnel_close_limit. Returns how many were open.
  std::int64_t close_tunnels(upstream::upstream_group& group, upstream::node& n);
  // A new node, warming until its checks pass. 409 when the name exists, 400 for a bad address.
  std::variant<std::shared_ptr<upstream::node>, refusal> add_node(
      const std::shared_ptr<upstream::upstream_group>& group, const std::string& name, const std::string& address,
      std::uint32_t weight);
  // Drains the node and removes it once nothing is in flight on it.
  std::optional<refusal> remove_node(upstream::upstream_group& group, const std::shared_ptr<upstream::node>& n,
                                     bool force);
  bool removal_pending(const upstream::node& n) const { return pending_removal_.count(&n) != 0; }

 private:
  // Runs the tick loop, and again should an exception escape it.
  void spawn_tick_loop();
  net_types::task<void> tick_loop();
  // The drain itself (no save): nullopt once the node is draining or drained, else the 409.
  std::optional<refusal> begin_drain(upstream::upstream_group& group, upstream::node& n, bool force);
  void finish_drains();
  // Writes the state file when it lags behind (state_dirty_); false when that failed.
  bool save_state_file();
  // After an operator's change: saves when needed, and says so if the state file still lags behind.
  std::optional<refusal> saved_or_refused(const std::string& change);

  std::shared_ptr<const proxy::runtime> runtime_;
  boost::asio::io_context io_;
  upstream::health_checker checker_;
  token_set tokens_;
  std::unique_ptr<http_server> server_;
  std::optional<boost::asio::ip::tcp::endpoint> admin_endpoint_;
  net_types::timer tick_timer_;
  std::set<const upstream::node*> pending_removal_;
  bool state_dirty_ = false;  // memory holds changes the state file does not
  std::chrono::steady_clock::time_point next_save_attempt_{};
  std::string save_error_;  // why the last save failed; empty after a success
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace drawbridge::admin
