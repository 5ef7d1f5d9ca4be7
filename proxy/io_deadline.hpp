#pragma once
// Times the one I/O operation a session has in progress (its coroutine does one at a time, on the
// client's socket or on a node's). The worker's 50 ms tick calls check(): past the deadline the socket's
// pending operation is cancelled, and disarm() reports that it was a timeout. This replaces an Asio
// timer armed and cancelled around every read and write, which cost a timer-queue insertion, a removal
// and an extra completion per operation; the price is a resolution of one tick.

#include <chrono>

#include "net/stream.hpp"

namespace drawbridge::proxy {

class io_deadline {
 public:
  using clock = std::chrono::steady_clock;

  void arm(net_types::socket& socket, std::chrono::milliseconds limit) { arm_until(socket, clock::now() + limit); }
  void arm_until(net_types::socket& socket, clock::time_point at) {
    socket_ = &socket;
    at_ = at;
    expired_ = false;
  }
  // After the operation completed: true if the deadline cancelled it.
  bool disarm() {
    socket_ = nullptr;
    return expired_;
  }
  // Worker thread, from its tick.
  void check(clock::time_point now) {
    if (!socket_ || now < at_) return;
    expired_ = true;
    boost::system::error_code ignored;
    socket_->cancel(ignored);
    socket_ = nullptr;
  }

 private:
  net_types::socket* socket_ = nullptr;
  clock::time_point at_{};
  bool expired_ = false;
};

}  // namespace drawbridge::proxy
