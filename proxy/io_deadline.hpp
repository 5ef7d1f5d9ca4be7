#pragma once
// Times the one I/O operation a session (or an HTTP/2 stream) has in progress (its coroutine does one at a
// time, on the client's socket or on a node's). The worker's 50 ms tick calls check(): past the deadline the socket's
// pending operation is cancelled, and disarm() reports that it was a timeout. This replaces an Asio
// timer armed and cancelled around every read and write, which cost a timer-queue insertion, a removal
// and an extra completion per operation; the price is a resolution of one tick.

#include <chrono>

#include "net/stream.hpp"

namespace drawbridge::proxy {

class io_deadline {
 public:
  using clock = std::chrono::steady_clock;

  // `stream`: a socket or a TLS stream; its lowest layer is what gets cancelled.
  // A relative limit starts counting at the first tick after arming, so arming reads no clock (it happens
  // several times per request); the limit is then kept to within one tick, late rather than early.
  template <typename Stream>
  void arm(Stream& stream, std::chrono::milliseconds limit) {
    target(stream.lowest_layer());
    limit_ = limit;
    at_ = {};
    expired_ = false;
  }
  template <typename Stream>
  void arm_until(Stream& stream, clock::time_point at) {
    target(stream.lowest_layer());
    at_ = at;
    expired_ = false;
  }
  // Arms again the deadline armed last, unchanged: a wake that brought nothing usable (a TLS record still
  // arriving, a spurious readiness report) must not restart the clock, or trickled bytes would hold a
  // connection forever.
  template <typename Stream>
  void resume(Stream& stream) {
    target(stream.lowest_layer());
    expired_ = false;
    if (at_ == clock::time_point{}) at_ = clock::now() + limit_;  // no tick came since arm(): start now
  }
  // After the operation completed: true if the deadline cancelled it.
  bool disarm() {
    target_ = nullptr;
    return expired_;
  }
  // Armed, and past the deadline: for a wait that loops (an HTTP/2 stream's), which sees the cancel as a
  // wake like any other.
  bool expired() const { return target_ && expired_; }
  // Worker thread, from its tick.
  // Cancels again on every tick until disarm(): a TLS operation is several socket operations in a row, and
  // a cancel that lands between two of them would otherwise be lost.
  void check(clock::time_point now) {
    if (!target_) return;
    if (at_ == clock::time_point{}) at_ = now + limit_;
    if (now < at_) return;
    expired_ = true;
    cancel_(target_);
  }

 private:
  // What gets cancelled: a socket (a stream's lowest layer), or anything else with cancel(error_code&)
  // whose lowest_layer() is itself (an HTTP/2 stream's wait, proxy/h2_stream.hpp).
  template <typename Target>
  void target(Target& t) {
    target_ = &t;
    cancel_ = [](void* p) {
      boost::system::error_code ignored;
      static_cast<Target*>(p)->cancel(ignored);
    };
  }

  void* target_ = nullptr;
  void (*cancel_)(void*) = nullptr;
  clock::time_point at_{};  // the epoch: not started yet (see arm)
  std::chrono::milliseconds limit_{};
  bool expired_ = false;
};

}  // namespace drawbridge::proxy
