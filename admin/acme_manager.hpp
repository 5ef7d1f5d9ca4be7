#pragma once
// Automatic certificates: for every TLS listener with `tls.acme`, orders a certificate from the CA when
// the listener has none (it serves a placeholder meanwhile), and again `renew_before` its expiry; stores
// it (acme/storage.hpp) and puts it in service like a certificate reload (open connections keep theirs).
//
// Failures back off, jittered: a CA that cannot be reached is tried again after 2 s, doubling up to 5 min
// (no order was placed, nothing to rate-limit); once an order was placed and failed, or the CA refused,
// the next waits at least an hour, doubling up to a day, and never less than the CA's Retry-After: never
// more than one order per name per hour after a failure.
//
// Several replicas (cluster mode): one orders at a time, holding a Redis lock per certificate; the result
// is written to Redis sealed (acme/sealed.hpp) and the others take it from there instead of ordering (at
// their own renewal time, and every 30 s in case another replica renewed early). The orderer announces
// each challenge to every replica (the CA's validation may reach any of them through the load balancer)
// and gives them a second to take it before the CA is told to look. Redis unreachable: a replica orders
// alone only when it serves a placeholder or a certificate expiring within 7 days.
//
// One loop per ACME listener, on the control thread (never a worker). Control thread only, every method.

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "cluster/cluster_link.hpp"
#include "conf/config.hpp"
#include "net/awaitable.hpp"
#include "proxy/listener.hpp"

namespace drawbridge::admin {

// What GET /v1/tls shows of one ACME listener.
struct acme_state {
  std::vector<std::string> domains;
  bool ordering = false;  // an order is under way
  unsigned failures = 0;  // in a row
  std::string last_error;
  std::chrono::system_clock::time_point next_attempt{};  // the next order: renewal or retry
  std::chrono::system_clock::time_point last_order{};    // the last order placed (zero: none yet)
  bool order_failed = false;                             // the last order placed failed (the hour rule)
};

// drawbridge_acme_orders_total{result}.
struct acme_counts {
  std::uint64_t ok = 0;
  std::uint64_t refused = 0;      // the CA refused (or the order failed after it was placed)
  std::uint64_t unreachable = 0;  // no order could be placed
};

class acme_manager {
 public:
  using listener_list = std::vector<std::shared_ptr<proxy::listener>>;
  // `listeners` gives the listeners in service now (they change with a config reload).
  acme_manager(boost::asio::io_context& io, std::function<const listener_list&()> listeners);
  ~acme_manager();
  acme_manager(const acme_manager&) = delete;
  acme_manager& operator=(const acme_manager&) = delete;

  // Starts a loop per ACME listener (again after a config reload: new ones start, gone ones end, the
  // others look at their config afresh).
  void adopt();
  // Ends every loop: the order under way is abandoned (its challenges withdrawn).
  void stop();
  // Cluster mode, before adopt(): the link to Redis and the file of the key certificates are sealed with.
  void use_cluster(cluster::cluster_link* link, std::string key_file) {
    link_ = link;
    key_file_ = std::move(key_file);
  }
  // An announcement from the cluster: another replica's challenge to answer here too, or to withdraw.
  void take_announcement(const nlohmann::json& message);
  // POST /v1/tls/renew: every ACME listener (or the one named) orders now. Returns the listeners that
  // must wait (the hour after a failed order), with when they may.
  std::map<std::string, std::chrono::system_clock::time_point> renew_now(const std::string& only = {});

  const std::map<std::string, acme_state>& states() const { return states_; }
  const acme_counts& counts() const { return counts_; }

  // Backoff after `failures` failures in a row (1 = the first), before jitter: for a CA that could not
  // be reached, and for an order that failed or was refused.
  static std::chrono::seconds unreachable_backoff(unsigned failures);
  static std::chrono::seconds refused_backoff(unsigned failures);

 private:
  struct loop;
  net_types::task<void> run(std::shared_ptr<loop> self);
  // One turn of a loop: waits for the next order (or the next look at the shared certificate), or orders.
  net_types::task<void> look(std::shared_ptr<loop> self);
  // `due`: an order is due (else only a certificate another replica stored is looked for).
  net_types::task<void> attempt(std::shared_ptr<loop> self, bool due);
  // Cluster mode: a certificate another replica stored that this listener should take (it serves an
  // older one or a placeholder, and that one is not due for renewal); its PEM (chain and key).
  net_types::task<std::optional<std::string>> shared_certificate(const conf::acme_config& acme,
                                                                 const proxy::listener& l);
  // Stores `pem` (chain and key) and puts it in service on the listener named `name`. The problem, if any.
  net_types::task<std::optional<std::string>> install(const std::string& name, const conf::acme_config& acme,
                                                      const std::string& pem);
  // Runs `job` (file writes with fsync) on files_, off the control thread, and resumes here with its
  // problem, if any ("stopping" when the process stops first).
  net_types::task<std::optional<std::string>> blocking(const std::function<std::optional<std::string>()>& job);
  // The hour rule across restarts: a failed order noted under `storage` (and read back at start-up).
  void remember_failed_order(const conf::acme_config& acme, acme_state& state);
  void record_failed_order(const conf::acme_config& acme);
  void forget_failed_order(const conf::acme_config& acme);
  // Publishes a challenge's answer here and, in a cluster, to the other replicas; and withdraws it.
  void publish(const std::string& type, const std::string& name, const std::string& token,
               const std::string& key_authorization, bool announce);
  void withdraw(const std::string& type, const std::string& name, const std::string& token, bool announce);
  void announce_challenge(const nlohmann::json& challenge);
  // When the listener's next order is due, from what it serves and its state.
  std::chrono::system_clock::time_point due(const proxy::listener& l, const acme_state& state) const;
  double jitter(double low, double high);

  boost::asio::io_context& io_;
  cluster::cluster_link* link_ = nullptr;  // cluster mode
  std::string key_file_;
  std::function<const listener_list&()> listeners_;
  std::map<std::string, std::shared_ptr<loop>> loops_;  // by listener name
  std::map<std::string, acme_state> states_;
  // Other replicas' challenges answered here, by "type token-or-name": each one's expiry timer. The timer
  // handlers capture `this`: stop() cancels them, and the control thread runs the cancelled handlers before
  // it ends (a handler never run is destroyed with the io_context, not called).
  std::map<std::string, std::shared_ptr<net_types::timer>> remote_;
  acme_counts counts_;
  std::mt19937_64 random_{std::random_device{}()};
  bool stopped_ = false;
  // One thread for what may block: fsync of the account key, a certificate, a failed order's note (the
  // control thread never waits on a disk). Joined by the destructor.
  boost::asio::thread_pool files_{1};
};

}  // namespace drawbridge::admin
