#pragma once
// Per-worker keep-alive pool of idle connections to each node of one upstream. Worker thread only: no locks.
//
// Idle connections have no pending operation (nothing to cancel, nothing to keep the io_context busy).
// Liveness is checked instead, on acquire and in the worker's periodic sweep(): a connection that sat idle
// longer than idle_timeout goes, and so does one the node closed or sent stray bytes on (still_open).

#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>
#include "net/stream.hpp"

#include "conf/config.hpp"

namespace drawbridge::upstream {

using clock = std::chrono::steady_clock;

struct upstream_tls;  // upstream/upstream_tls.hpp: the TLS layer over `socket`, for upstreams with `tls`

// The cap on what a node connection's read buffer may hold: a response header (Beast refuses one over its
// header limit), then what a body's parser has not consumed yet (a chunk line, the trailers). A node that
// sends a chunk line or trailer section that never ends gets its response cut off at the cap (the reads
// fail with buffer_overflow) instead of growing the proxy's memory.
inline constexpr std::size_t max_node_buffer = 256 * 1024;

struct upstream_connection {
  explicit upstream_connection(const net_types::executor& ex);
  ~upstream_connection();
  net_types::socket socket;
  std::unique_ptr<upstream_tls> tls;  // set once TLS to the node is established; I/O then goes through it
  boost::beast::flat_buffer buffer;   // response bytes read ahead of the parser
  std::uint64_t requests = 0;         // exchanges completed on this connection
  clock::time_point idle_since{};
};

class connection_pool {
 public:
  connection_pool(std::size_t node_count, conf::keepalive_config config);
  ~connection_pool();

  // An idle connection to `node` that still looks open, most recently used first; nullptr if none.
  // `replayable`: the request can be sent again on a fresh connection if this one turns out dead, so a
  // connection epoll knows to be empty is handed out without a peek (see still_open).
  std::unique_ptr<upstream_connection> acquire(int node, clock::time_point now, bool replayable = false);

  // Takes the connection back after a clean exchange, or closes it when the pool for that node is full,
  // it has served max_requests, or it holds unread bytes.
  void release(int node, std::unique_ptr<upstream_connection> connection, clock::time_point now);

  // Closes idle connections that expired or that the node closed.
  void sweep(clock::time_point now);

  // Closes every idle connection to one node (drain), or to all nodes (shutdown).
  void close_node(int node);
  void close_all();

  // The upstream's node list changed: new node i was old node `old_index[i]` (or -1 for a new one).
  // Idle connections follow their node; those to nodes no longer listed are closed.
  void reassign(const std::vector<int>& old_index);

  // A config reload replaced the upstream: `from`'s idle connections to its node `from_node` (the same
  // server as this pool's `node`) move here, up to this pool's max_idle_per_node.
  void take_over(connection_pool& from, int from_node, int node);

  std::size_t idle_count(int node) const { return idle_[static_cast<std::size_t>(node)].size(); }

 private:
  bool expired(const upstream_connection& c, clock::time_point now) const;

  conf::keepalive_config config_;
  std::vector<std::vector<std::unique_ptr<upstream_connection>>> idle_;  // per node, oldest first
};

// True while the peer has not closed the connection and sent nothing unsolicited. `trust_epoll`: a plain
// connection that epoll knows to be empty is taken as open without a peek.
bool still_open(upstream_connection& connection, bool trust_epoll = false);

}  // namespace drawbridge::upstream
