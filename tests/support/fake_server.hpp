#pragma once
// The listening socket, the threads and the shutdown of a blocking fake server on 127.0.0.1:0: each
// accepted connection is served by a function of the test's on a thread of its own.
//
// Every fake server in tests/support stops the same way, in stop() and so in its destructor:
//   1. it stops accepting: the listening socket is shut down, which wakes the accept() blocked on it
//      (closing the descriptor would not);
//   2. it ends the connections still open: each is shut down both ways, which wakes a thread blocked
//      reading or writing it (the peer sees the close);
//   3. it joins every thread.
// Chosen over a stop flag polled with timeouts (what scripted_node did) and a connection to oneself to
// wake accept() (what the mutual-TLS node did): nothing polls, nothing waits for a timeout, and it works
// whatever call the serving code is blocked in. fake_node (Asio coroutines on one thread) keeps the same
// contract its own way: stop() closes its acceptor and every connection, then joins its thread.
//
// A server that holds state its connection threads use declares its fake_server member last, so that
// the threads are joined before that state goes away.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace drawbridge::testing {

class fake_server {
 public:
  // `serve` is called once per accepted connection, on that connection's thread. The socket stays the
  // server's (serve reads and writes it, or wraps it by reference, but does not move it away): the server
  // shuts it down on stop() and closes it once serve has returned.
  using connection_handler = std::function<void(boost::asio::ip::tcp::socket&)>;

  explicit fake_server(connection_handler serve);
  ~fake_server();
  fake_server(const fake_server&) = delete;
  fake_server& operator=(const fake_server&) = delete;

  std::uint16_t port() const { return port_; }
  std::uint64_t connections() const;  // accepted so far
  // Stops accepting, shuts every open connection down and joins the threads (see above). Idempotent.
  void stop();

 private:
  void accept_loop();

  connection_handler serve_;
  boost::asio::io_context ioc_;  // only owns the sockets: every operation on them is blocking
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  mutable std::mutex mutex_;
  bool stopping_ = false;
  std::uint64_t connections_ = 0;
  std::set<int> open_;  // descriptors of the connections being served
  std::vector<std::thread> threads_;
  std::thread acceptor_thread_;
};

}  // namespace drawbridge::testing
