#include "process/service_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace drawbridge::process {

std::string notify_service_manager(std::string_view state) {
  const char* where = std::getenv("NOTIFY_SOCKET");
  if (!where || !*where) return {};
  const std::string_view path(where);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  // "@name" is a socket in the abstract namespace: a leading NUL instead of the '@'.
  if ((path[0] != '/' && path[0] != '@') || path.size() >= sizeof(address.sun_path))
    return "NOTIFY_SOCKET is not a socket path: " + std::string(path);
  std::memcpy(address.sun_path, path.data(), path.size());
  if (path[0] == '@') address.sun_path[0] = '\0';
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());

  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("cannot open a socket for NOTIFY_SOCKET: ") + std::strerror(errno);
  std::string problem;
  if (::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&address), length) < 0)
    problem = "cannot notify " + std::string(path) + ": " + std::strerror(errno);
  ::close(fd);
  return problem;
}

std::string monotonic_usec_line() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<long long>(now.tv_sec) * 1000000LL + now.tv_nsec / 1000;
  return "MONOTONIC_USEC=" + std::to_string(usec);
}

}  // namespace drawbridge::process
