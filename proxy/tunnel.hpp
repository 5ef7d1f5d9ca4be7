#pragma once
// The bytes of an upgraded connection (WebSocket), copied both ways between the client and the node until
// either side ends or nothing moves for the idle limit. Included only by exchange.cpp.

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdint>

#include "net/stream.hpp"
#include "proxy/awaitable.hpp"

namespace drawbridge::proxy {

struct tunnel_totals {
  std::uint64_t to_node = 0;    // bytes from the client to the node
  std::uint64_t to_client = 0;  // bytes from the node to the client
};

namespace tunnel_detail {

namespace net = boost::asio;
using clock = std::chrono::steady_clock;

// What ends the tunnel ends all of it: each branch, when it stops, cancels what the others wait on, so
// none of them waits for a peer that has nothing more to say (not every stream takes per-operation
// cancellation).
template <typename Client, typename Node>
struct ends {
  Client& client;
  Node& node;
  net_types::timer& timer;
  bool over = false;  // checked before every wait: a cancel only reaches operations already started
  void all() {
    over = true;
    boost::system::error_code ignored;
    client.lowest_layer().cancel(ignored);
    node.lowest_layer().cancel(ignored);
    timer.cancel();
  }
};

template <typename From, typename To, typename Ends>
task<void> pump(From& from, To& to, char* buffer, std::size_t size, clock::time_point& last, std::uint64_t& moved,
                Ends& end) {
  while (!end.over) {
    auto [ec, n] = co_await from.async_read_some(net::buffer(buffer, size), use_tuple);
    if (ec || end.over) break;
    last = clock::now();
    auto [wec, wn] = co_await net::async_write(to, net::buffer(buffer, n), use_tuple);
    if (wec) break;
    moved += n;
  }
  end.all();
}

template <typename Ends>
task<void> idle_watch(net_types::timer& timer, clock::time_point& last, std::chrono::milliseconds idle, Ends& end) {
  while (!end.over) {
    timer.expires_at(last + idle);
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec || end.over) co_return;  // the tunnel ended otherwise
    if (clock::now() - last >= idle) break;
  }
  end.all();
}

}  // namespace tunnel_detail

// `buffer` is split between the two directions.
template <typename Client, typename Node>
task<tunnel_totals> run_tunnel(Client& client, Node& node, char* buffer, std::size_t buffer_size,
                               std::chrono::milliseconds idle) {
  using namespace boost::asio::experimental::awaitable_operators;
  using namespace tunnel_detail;
  tunnel_totals totals;
  net_types::timer timer(client.get_executor());
  ends<Client, Node> end{client, node, timer};
  auto last = clock::now();
  const std::size_t half = buffer_size / 2;
  // All three run to their end; the first to stop stops the others (see ends).
  co_await (pump(client, node, buffer, half, last, totals.to_node, end) &&
            pump(node, client, buffer + half, half, last, totals.to_client, end) &&
            idle_watch(timer, last, idle, end));
  co_return totals;
}

}  // namespace drawbridge::proxy
