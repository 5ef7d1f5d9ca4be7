#pragma once
// The bytes of an upgraded connection (WebSocket), copied both ways between the client and the node until
// either side ends, nothing moves for the idle limit, or the worker asks the tunnel to go away (its node
// is drained past the drain's deadline, or drawbridge's shutdown grace ran out). Going away ends the
// client's side with a WebSocket close frame, 1001, so that a browser reconnects at once (through
// drawbridge, to another node). Included only by exchange.cpp.

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <string>

#include "net/stream.hpp"
#include "proxy/awaitable.hpp"
#include "proxy/tunnel_handle.hpp"
#include "proxy/websocket_frames.hpp"
#include "proxy/worker.hpp"

namespace drawbridge::proxy {

struct tunnel_totals {
  std::uint64_t to_node = 0;    // bytes from the client to the node
  std::uint64_t to_client = 0;  // bytes from the node to the client
};

// Three coroutines run side by side: one per direction and a watch over the idle limit (or, while going
// away, over tunnel_close_limit). Whichever ends the tunnel ends all of it: it cancels what the others
// wait on, so none of them waits for a peer that has nothing more to say. Going away is the exception in
// one place: the client's side stays open until the node-to-client direction has sent the close frame.
template <typename Client, typename Node>
class tunnel final : public tunnel_handle {
  using clock = std::chrono::steady_clock;

 public:
  // `buffer` is split between the two directions. `sent_to_client`: the node's bytes that went to the
  // client with its 101, the start of its frame stream.
  tunnel(Client& client, Node& node_stream, char* buffer, std::size_t buffer_size, std::chrono::milliseconds idle,
         const upstream::node& n, session_base* session, std::string_view sent_to_client)
      : tunnel_handle(n, session),
        client_(client),
        node_(node_stream),
        buffer_(buffer),
        half_(buffer_size / 2),
        idle_(idle),
        timer_(client.get_executor()),
        last_(clock::now()) {
    frames_.advance(sent_to_client.data(), sent_to_client.size());
  }

  task<tunnel_totals> run() {
    using namespace boost::asio::experimental::awaitable_operators;
    co_await (to_node() && to_client() && watch());
    co_return totals_;
  }

  void go_away(std::string_view reason) override {
    if (over_ || going_away_) return;
    going_away_ = true;
    close_frame_ = websocket_close_frame(websocket_going_away, reason);
    give_up_at_ = clock::now() + upstream::tunnel_close_limit;
    // Stop waiting on the node (the client's side stays open for the close frame) and re-time the watch.
    boost::system::error_code ignored;
    node_.lowest_layer().cancel(ignored);
    timer_.cancel();
  }

 private:
  // Checked before every wait: a cancel only reaches operations already started.
  void end_all() {
    over_ = true;
    boost::system::error_code ignored;
    client_.lowest_layer().cancel(ignored);
    node_.lowest_layer().cancel(ignored);
    timer_.cancel();
  }

  task<void> to_node() {
    char* const buffer = buffer_;
    while (!over_ && !going_away_) {
      auto [ec, n] = co_await client_.async_read_some(net::buffer(buffer, half_), use_tuple);
      if (ec || over_ || going_away_) break;
      last_ = clock::now();
      auto [wec, wn] = co_await net::async_write(node_, net::buffer(buffer, n), use_tuple);
      if (wec) break;
      totals_.to_node += n;
    }
    // While going away, the other direction ends the tunnel once the close frame is out; cancelling the
    // client's side here could cut that frame short.
    if (!going_away_) end_all();
  }

  task<void> to_client() {
    char* const buffer = buffer_ + half_;
    while (!over_) {
      // A node that sent its own close frame already, or a stream no longer followed, gets no close of ours.
      if (going_away_ && (frames_.lost() || frames_.close_seen())) break;
      if (going_away_ && frames_.between_frames()) {
        co_await net::async_write(client_, net::buffer(close_frame_), use_tuple);
        break;
      }
      reading_node_ = true;
      auto [ec, n] = co_await node_.async_read_some(net::buffer(buffer, half_), use_tuple);
      reading_node_ = false;
      if (ec == net::error::operation_aborted && going_away_ && !over_) continue;  // go_away's cancel
      if (ec || over_) break;
      last_ = clock::now();
      // While going away, pass on the rest of the frame in progress and nothing after it.
      const auto pass = frames_.advance(buffer, n, going_away_);
      auto [wec, wn] = co_await net::async_write(client_, net::buffer(buffer, pass), use_tuple);
      if (wec) break;
      totals_.to_client += pass;
    }
    end_all();
  }

  task<void> watch() {
    while (!over_) {
      // While going away, wake often: a cancel reaches only the socket operation in progress, and a TLS
      // read is several of them, so a read between two of the node's frames is cancelled again until
      // it ends and the close frame can go out.
      timer_.expires_at(going_away_ ? std::min(give_up_at_, clock::now() + recancel_every) : last_ + idle_);
      auto [ec] = co_await timer_.async_wait(use_tuple);
      if (over_) co_return;  // the tunnel ended otherwise
      if (ec) continue;      // go_away changed the limit
      const auto now = clock::now();
      if (going_away_ ? now >= give_up_at_ : now - last_ >= idle_) break;
      if (going_away_ && reading_node_ && frames_.between_frames()) {
        boost::system::error_code ignored;
        node_.lowest_layer().cancel(ignored);
      }
    }
    end_all();
  }

  static constexpr std::chrono::milliseconds recancel_every{50};

  Client& client_;
  Node& node_;
  char* buffer_;
  std::size_t half_;
  std::chrono::milliseconds idle_;
  net_types::timer timer_;
  clock::time_point last_;  // when bytes last moved, either way
  clock::time_point give_up_at_;
  websocket_frame_cursor frames_;  // in the node-to-client stream
  std::string close_frame_;
  bool over_ = false;
  bool going_away_ = false;
  bool reading_node_ = false;  // to_client waits on the node
  tunnel_totals totals_;
};

// Runs a tunnel registered with its worker (which may ask it to go away) and counted on its node.
template <typename Client, typename Node>
task<tunnel_totals> run_tunnel(worker& w, Client& client, Node& node, char* buffer, std::size_t buffer_size,
                               std::chrono::milliseconds idle, upstream::node& n, session_base* owner,
                               std::string_view sent_to_client) {
  tunnel<Client, Node> t(client, node, buffer, buffer_size, idle, n, owner, sent_to_client);
  w.add_tunnel(&t);
  n.tunnel_opened();
  struct unregister {
    worker& owner;
    tunnel_handle* open;
    upstream::node& counted_on;
    ~unregister() {
      counted_on.tunnel_closed();
      owner.remove_tunnel(open);
    }
  } registered{w, &t, n};
  co_return co_await t.run();
}

}  // namespace drawbridge::proxy
