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
// One loop per ACME listener, on the control thread (never a worker). Control thread only, every method.

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

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
  net_types::task<void> attempt(std::shared_ptr<loop> self, std::size_t position);
  // When the listener's next order is due, from what it serves and its state.
  std::chrono::system_clock::time_point due(const proxy::listener& l, const acme_state& state) const;
  double jitter(double low, double high);

  boost::asio::io_context& io_;
  std::function<const listener_list&()> listeners_;
  std::map<std::string, std::shared_ptr<loop>> loops_;  // by listener name
  std::map<std::string, acme_state> states_;
  acme_counts counts_;
  std::mt19937_64 random_{std::random_device{}()};
  bool stopped_ = false;
};

}  // namespace drawbridge::admin
