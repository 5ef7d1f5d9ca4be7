#pragma once
// What the harnesses share: the check that stops a run, the split points of a byte stream, and a
// connected pair of sockets driven on one io_context without threads (for the relays).

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "net/stream.hpp"

// A violated property: say which, then abort (libFuzzer saves the input as a crash).
#define FUZZ_CHECK(condition)                                                                  \
  do {                                                                                         \
    if (!(condition)) {                                                                        \
      std::fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #condition, __FILE__, __LINE__); \
      std::abort();                                                                            \
    }                                                                                          \
  } while (false)

namespace drawbridge::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Where a stream is cut into reads, from one input byte: 0 keeps it whole; otherwise pieces of 1 to a
// maximum (1, 2, 3, 7, 16, 64, 512 or 4096 bytes, from the low 3 bits), their sizes drawn by a small
// generator seeded with the byte. The same byte always cuts the same way: a crash replays.
class splitter {
 public:
  explicit splitter(std::uint8_t seed) : whole_(seed == 0), state_(0x9e3779b9u ^ (seed * 0x01000193u)) {
    static constexpr std::size_t maxima[] = {1, 2, 3, 7, 16, 64, 512, 4096};
    max_ = maxima[seed & 7];
  }
  // The size of the next piece when `left` bytes remain (at least 1 when left > 0).
  std::size_t next(std::size_t left) {
    if (whole_ || left == 0) return left;
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    const std::size_t n = 1 + state_ % max_;
    return n < left ? n : left;
  }

 private:
  bool whole_;
  std::uint32_t state_;
  std::size_t max_ = 1;
};

// One end of a socketpair as the proxy's socket type (what relays and read_response_head take), the other
// end a plain non-blocking descriptor the harness writes the peer's bytes to or reads them from.
struct socket_link {
  net_types::socket ours;
  int peer = -1;

  explicit socket_link(boost::asio::io_context& io) : ours(io.get_executor()) {
    int fds[2];
    FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    // Asio takes any stream socket's descriptor; the protocol only matters for endpoints, unused here.
    ours.assign(boost::asio::ip::tcp::v4(), fds[0]);
    ours.non_blocking(true);
    peer = fds[1];
  }
  ~socket_link() {
    if (peer >= 0) ::close(peer);
  }
  socket_link(const socket_link&) = delete;
  socket_link& operator=(const socket_link&) = delete;

  // Writes as much of `pending` as the socket takes now and drops it from `pending`; true if any went.
  bool send_some(std::string_view& pending) {
    if (pending.empty()) return false;
    const auto n = ::send(peer, pending.data(), pending.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    pending.remove_prefix(static_cast<std::size_t>(n));
    return true;
  }
  // Appends what the peer end has to `out`; true if anything came.
  bool receive_some(std::string& out) {
    bool any = false;
    char chunk[16384];
    for (;;) {
      const auto n = ::recv(peer, chunk, sizeof chunk, 0);
      if (n <= 0) return any;
      out.append(chunk, static_cast<std::size_t>(n));
      any = true;
    }
  }
  // The peer's end of stream: our reads see EOF once the bytes sent are read.
  void end_peer_writes() { ::shutdown(peer, SHUT_WR); }
};

// Runs `io` without blocking until `done()`, with `pump()` moving the peers' bytes between turns (true when
// it moved any). False when nothing moves any more (no handler ran, no byte went) and `done()` still does
// not hold: the code under test waits for something that will never come.
template <typename Done, typename Pump>
bool run_until(boost::asio::io_context& io, Done done, Pump pump) {
  int idle = 0;
  while (!done()) {
    const bool ran = io.poll() > 0;
    const bool moved = pump();
    if (ran || moved)
      idle = 0;
    else if (++idle > 8)
      return false;
  }
  return true;
}

}  // namespace drawbridge::fuzz
