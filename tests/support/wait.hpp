#pragma once
// Waiting in tests: on a condition, with a deadline (wait_for), never for a fixed time. This header is the
// one place in the tests where a thread sleeps a short while, between two looks at the condition.
//
// let_time_pass is for the rare test whose point is that something does NOT happen within a time (a
// connection still open past a deadline, a client that sends one byte every 150 ms): there is no condition
// to wait on, only time. Each use names why.

#include <chrono>
#include <string_view>
#include <thread>

namespace drawbridge::testing {

// Polls `condition` every `interval` until it holds or `deadline` passes; returns the last result.
template <typename F>
bool wait_for(F condition, std::chrono::milliseconds deadline = std::chrono::milliseconds(5000),
              std::chrono::milliseconds interval = std::chrono::milliseconds(10)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= end) return condition();
    std::this_thread::sleep_for(interval);
  }
  return true;
}

// Lets `duration` pass on purpose. `why` says what the time proves (it is there for the reader, and for
// grep: every deliberate wait in the tests goes through here).
inline void let_time_pass(std::chrono::milliseconds duration, std::string_view why) {
  static_cast<void>(why);
  std::this_thread::sleep_for(duration);
}

}  // namespace drawbridge::testing
