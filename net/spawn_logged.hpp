#pragma once
// spawn_logged: co_spawn for a coroutine nobody awaits (an accept loop, a tick loop, one connection).
// With `detached`, an exception escaping such a coroutine vanishes and the loop silently stops; here it is
// logged with spdlog::error, naming `what`, and then `on_exception` runs (to restart the loop, or to let go
// of what the coroutine held). A coroutine that returns normally is simply done.
//
// Thread: the completion, and so `on_exception`, runs on the thread of `on` (the executor). Ownership:
// `on_exception` is kept until the coroutine ends; whatever it captures must outlive that.

#include <spdlog/spdlog.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <exception>
#include <functional>
#include <string>
#include <utility>

namespace drawbridge::net_types {

// What an escaped exception says, for a log line.
inline std::string describe_exception(const std::exception_ptr& escaped) {
  try {
    std::rethrow_exception(escaped);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

template <typename Executor>
void spawn_logged(const Executor& on, boost::asio::awaitable<void, Executor> coroutine, std::string what,
                  std::function<void()> on_exception = {}) {
  boost::asio::co_spawn(
      on, std::move(coroutine),
      [what = std::move(what), on_exception = std::move(on_exception)](const std::exception_ptr& escaped) {
        if (!escaped) return;
        spdlog::error("{}: exception escaped: {}", what, describe_exception(escaped));
        if (on_exception) on_exception();
      });
}

}  // namespace drawbridge::net_types
