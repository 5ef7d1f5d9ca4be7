#pragma once
// A node that answers every request with bytes the test wrote, as they are: for answers no well-behaved
// server gives (a 101 to another protocol, a body after a 204, a chunked body cut off). On its own thread,
// 127.0.0.1 and port 0. Each connection reads one request head at a time (bodies are not read), writes
// the next scripted answer, and closes when that answer says so. Stops as every fake server does
// (fake_server.hpp).

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "tests/support/fake_server.hpp"

namespace drawbridge::testing {

struct scripted_answer {
  std::string bytes;   // written as they are, in one write
  bool close = false;  // then close the connection (without reading more)
};

class scripted_node {
 public:
  // Answers are used in order, the last one again once they run out.
  explicit scripted_node(std::vector<scripted_answer> answers);
  scripted_node(const scripted_node&) = delete;
  scripted_node& operator=(const scripted_node&) = delete;

  std::uint16_t port() const { return server_.port(); }
  std::uint64_t connections() const { return server_.connections(); }
  // The request heads received so far, in order.
  std::vector<std::string> requests() const;

 private:
  void serve(boost::asio::ip::tcp::socket& socket);

  std::vector<scripted_answer> answers_;
  std::atomic<std::size_t> next_answer_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  fake_server server_;  // last: its threads are joined before the members above go away
};

}  // namespace drawbridge::testing
