#pragma once
// A node that answers every request with bytes the test wrote, as they are: for answers no well-behaved
// server gives (a 101 to another protocol, a body after a 204, a chunked body cut off). On its own thread,
// 127.0.0.1 and port 0. Each connection reads one request head at a time (bodies are not read), writes
// the next scripted answer, and closes when that answer says so.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace drawbridge::testing {

struct scripted_answer {
  std::string bytes;   // written as they are, in one write
  bool close = false;  // then close the connection (without reading more)
};

class scripted_node {
 public:
  // Answers are used in order, the last one again once they run out.
  explicit scripted_node(std::vector<scripted_answer> answers);
  ~scripted_node();
  scripted_node(const scripted_node&) = delete;
  scripted_node& operator=(const scripted_node&) = delete;

  std::uint16_t port() const { return port_; }
  std::uint64_t connections() const { return connections_.load(); }
  // The request heads received so far, in order.
  std::vector<std::string> requests() const;

 private:
  void serve(int fd);

  std::vector<scripted_answer> answers_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> connections_{0};
  std::atomic<std::size_t> next_answer_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::vector<int> open_fds_;
  std::thread acceptor_;
  std::vector<std::thread> servers_;
};

}  // namespace drawbridge::testing
