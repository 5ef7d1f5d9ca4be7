#pragma once
// WebSocket nodes for the tunnel tests, on 127.0.0.1:0, stopping as every fake server does
// (fake_server.hpp).

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>

#include "tests/support/fake_server.hpp"

namespace drawbridge::testing {

// Accepts WebSocket upgrades and echoes every message (or, with `refuse`, answers 426 "no" to the upgrade
// and to any other request).
class echo_node {
 public:
  explicit echo_node(bool refuse = false);
  std::uint16_t port() const { return server_.port(); }
  int upgrades() const { return upgrades_.load(); }  // counted just after the 101 is written

 private:
  void serve(boost::asio::ip::tcp::socket& socket);

  bool refuse_;
  std::atomic<int> upgrades_{0};
  fake_server server_;  // last: its threads are joined before the members above go away
};

// Accepts a WebSocket upgrade, sends the first half of a 1000-byte binary frame (FIN, 1000 bytes of
// 'f'), waits until `release` holds (unless `hold_forever`), then sends the rest; then reads until the
// connection ends.
class half_frame_node {
 public:
  half_frame_node(std::function<bool()> release, bool hold_forever);
  std::uint16_t port() const { return server_.port(); }

 private:
  void serve(boost::asio::ip::tcp::socket& socket);

  std::function<bool()> release_;
  bool hold_forever_;
  fake_server server_;  // last
};

}  // namespace drawbridge::testing
