#pragma once
// A stand-in for systemd's notify socket: a Unix datagram socket bound at a path the test chooses, and
// NOTIFY_SOCKET pointing at it for as long as the object lives (children started meanwhile inherit it).

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace drawbridge::testing {

class notify_socket {
 public:
  explicit notify_socket(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path.copy(address.sun_path, sizeof(address.sun_path) - 1);
    bound_ = ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
    timeval limit{10, 0};  // receive() gives up after this long
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  }
  ~notify_socket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
  }
  notify_socket(const notify_socket&) = delete;
  notify_socket& operator=(const notify_socket&) = delete;

  bool bound() const { return bound_; }
  // The next message, or empty after 10 s without one.
  std::string receive() const {
    char buffer[1024];
    const auto n = ::recv(fd_, buffer, sizeof(buffer), 0);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

}  // namespace drawbridge::testing
