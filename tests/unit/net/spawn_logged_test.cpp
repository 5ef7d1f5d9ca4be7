// spawn_logged: an exception that escapes a spawned coroutine is logged and handed to on_exception, which
// can start the loop again.

#include "net/spawn_logged.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>
#include <stdexcept>

#include "net/awaitable.hpp"

using namespace drawbridge;

namespace {

// Sends spdlog's default logger into `out` for the life of the object.
class captured_log {
 public:
  explicit captured_log(std::ostringstream& out) : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  }
  ~captured_log() { spdlog::set_default_logger(previous_); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
};

// Throws on its first `failures` runs, then counts the run and returns.
net_types::task<void> flaky_loop(int& runs, int failures) {
  ++runs;
  if (runs <= failures) throw std::runtime_error("run " + std::to_string(runs) + " broke");
  co_return;
}

void spawn_flaky(boost::asio::io_context& io, int& runs, int failures, int& restarts) {
  net_types::spawn_logged(io.get_executor(), flaky_loop(runs, failures), "test loop",
                          [&io, &runs, failures, &restarts] {
                            ++restarts;
                            spawn_flaky(io, runs, failures, restarts);
                          });
}

}  // namespace

TEST(spawn_logged, an_escaped_exception_is_logged_and_the_loop_restarted) {
  std::ostringstream log;
  captured_log capture(log);
  boost::asio::io_context io;
  int runs = 0, restarts = 0;
  spawn_flaky(io, runs, 2, restarts);
  io.run();
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(restarts, 2);
  EXPECT_NE(log.str().find("test loop: exception escaped: run 1 broke"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("test loop: exception escaped: run 2 broke"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("[error]"), std::string::npos) << log.str();
}

TEST(spawn_logged, a_coroutine_that_returns_logs_nothing_and_calls_nothing) {
  std::ostringstream log;
  captured_log capture(log);
  boost::asio::io_context io;
  int runs = 0;
  bool called = false;
  net_types::spawn_logged(io.get_executor(), flaky_loop(runs, 0), "quiet", [&] { called = true; });
  io.run();
  EXPECT_EQ(runs, 1);
  EXPECT_FALSE(called);
  EXPECT_EQ(log.str(), "");
}
