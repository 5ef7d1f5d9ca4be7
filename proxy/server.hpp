#pragma once
// The proxy process's data plane: the workers and their listeners. The composition root builds one,
// starts it, and calls stop() on SIGTERM/SIGINT.

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/owned_fd.hpp"
#include "proxy/access_log.hpp"
#include "proxy/connections_per_address.hpp"
#include "proxy/runtime.hpp"
#include "proxy/runtime_source.hpp"

namespace drawbridge::proxy {

class worker;

class server {
 public:
  explicit server(std::shared_ptr<const runtime> rt);
  ~server();

  // Listening sockets by listener address as configured ("127.0.0.1:0"): what a binary upgrade hands
  // the successor, one socket per worker of the old process.
  using listening_sockets = std::map<std::string, std::vector<owned_fd>>;

  // Binds every listener in every worker and starts the worker threads. Throws std::runtime_error with
  // the listener's JSON path and the reason ("listeners[0].address: cannot listen on ...: Address already
  // in use"), or the access log's. A listener with sockets in `inherited` (a binary upgrade's successor)
  // accepts on those, all of them, and binds only what more workers need; inherited sockets of an address
  // the config no longer lists are closed.
  void start(listening_sockets inherited = {});

  // Any thread: copies (dup) of the current listeners' sockets, for a binary upgrade's successor.
  listening_sockets duplicate_sockets() const;

  // Where each listener of the current runtime is bound (port 0 in the config resolved to the kernel's
  // choice), config order. Any thread.
  std::vector<boost::asio::ip::tcp::endpoint> endpoints() const {
    const std::lock_guard lock(endpoints_mutex_);
    return endpoints_;
  }

  // Any thread, any number of times: stop accepting and finish in-flight requests (shutdown_grace).
  void stop();
  // Blocks until every worker has finished.
  void wait();
  // Ticks each worker has completed so far (worker order), for tests that wait for a tick.
  std::vector<std::uint64_t> worker_ticks() const;

  // One thread at a time, after start(): `next` serves every request whose header arrives from now on, on
  // new and kept-alive connections alike; a request in progress finishes on the runtime it started with.
  // Build it with build_runtime(config, current().get()). Listeners at a new address are bound here, in
  // every worker, before anything changes; a listener no longer listed stops accepting (its connections
  // finish their request and close). Throws std::invalid_argument, naming every reason, when the process
  // cannot take `next` (swap_refusals in proxy/runtime.hpp: what is read once at start-up), and
  // std::runtime_error naming the listener when one cannot be bound; the current runtime then stays.
  void publish(std::shared_ptr<const runtime> next);
  std::shared_ptr<const runtime> current() const { return source_.current(); }

 private:
  std::shared_ptr<const runtime> runtime_;  // the first: what the process was started with
  runtime_source source_;
  std::atomic<std::uint64_t> connections_{0};
  connections_per_address per_address_;
  std::vector<std::unique_ptr<worker>> workers_;
  std::atomic<bool> stopping_{false};   // stop() was called: publish refuses
  mutable std::mutex endpoints_mutex_;  // guards endpoints_ and sockets_
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
  // A copy of every socket the workers accept on, by address: what duplicate_sockets() hands out. Let go
  // of with the listener (a reload removed it) or at stop(), so that a closed listener refuses
  // connections at once rather than queueing them for nobody.
  listening_sockets sockets_;
};

}  // namespace drawbridge::proxy
