#pragma once
// What a worker knows of each open tunnel (proxy/tunnel.hpp): its node, the node's tunnel_close_epoch
// when it opened, the session it belongs to, and how to ask it to end cleanly.

#include <cstdint>
#include <string_view>

#include "upstream/node.hpp"

namespace drawbridge::proxy {

class session_base;

class tunnel_handle {
 public:
  tunnel_handle(const upstream::node& n, session_base* session)
      : node(n), epoch(n.tunnel_close_epoch.load(std::memory_order_relaxed)), owner(session) {}
  tunnel_handle(const tunnel_handle&) = delete;
  tunnel_handle& operator=(const tunnel_handle&) = delete;

  // Ends the tunnel with a WebSocket close frame (1001, `reason`) to the client once the node's frame in
  // progress has passed, then the close; within upstream::tunnel_close_limit, else without the frame.
  // Worker thread; returns at once (the tunnel's own coroutines do the work).
  virtual void go_away(std::string_view reason) = 0;

  const upstream::node& node;
  std::uint32_t epoch;  // updated by the worker when it asks the tunnel to go away
  session_base* owner;  // spared by the worker's forced close while the tunnel goes away

 protected:
  ~tunnel_handle() = default;
};

}  // namespace drawbridge::proxy
