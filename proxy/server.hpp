#pragma once
// The proxy process's data plane: the workers and their listeners. The composition root builds one,
// starts it, and calls stop() on SIGTERM/SIGINT.

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <vector>

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

  // Binds every listener in every worker and starts the worker threads. Throws std::runtime_error with
  // the listener's JSON path and the reason ("listeners[0].address: cannot listen on ...: Address already
  // in use"), or the access log's.
  void start();

  // Where each listener is bound (port 0 in the config resolved to the kernel's choice), config order.
  std::vector<boost::asio::ip::tcp::endpoint> endpoints() const { return endpoints_; }

  // Any thread, any number of times: stop accepting and finish in-flight requests (shutdown_grace).
  void stop();
  // Blocks until every worker has finished.
  void wait();
  // Ticks each worker has completed so far (worker order), for tests that wait for a tick.
  std::vector<std::uint64_t> worker_ticks() const;

  // One thread at a time: `next` serves new requests from each worker's next tick or accept on, and a
  // kept-alive connection's next request; a request in progress finishes on the runtime it started with.
  // Build it with build_runtime(config, current().get()). Throws std::invalid_argument, naming every
  // reason, when the workers cannot take it (swap_refusals in proxy/runtime.hpp: today a change of
  // listeners or upstreams, or of what is read once at start-up); the current runtime then stays.
  void publish(std::shared_ptr<const runtime> next);
  std::shared_ptr<const runtime> current() const { return source_.current(); }

 private:
  std::shared_ptr<const runtime> runtime_;  // the first: what the process was started with
  runtime_source source_;
  std::atomic<std::uint64_t> connections_{0};
  connections_per_address per_address_;
  std::vector<std::unique_ptr<worker>> workers_;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
};

}  // namespace drawbridge::proxy
