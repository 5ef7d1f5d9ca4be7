#include "tests/support/socket_state.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace drawbridge::testing {

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

bool peer_closed(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP)) != 0;
}

std::uint16_t local_port(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
  return ntohs(address.sin_port);
}

std::optional<tcp_memory> tcp_memory_of(std::uint16_t local, std::uint16_t remote) {
  const int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return std::nullopt;
  // Every IPv4 TCP socket of the namespace with its memory information; the one wanted is picked below.
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.request.sdiag_family = AF_INET;
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_states = ~0u;
  message.request.idiag_ext = 1u << (INET_DIAG_SKMEMINFO - 1);
  std::optional<tcp_memory> found;
  if (::send(fd, &message, sizeof message, 0) != static_cast<ssize_t>(sizeof message)) {
    ::close(fd);
    return std::nullopt;
  }
  alignas(nlmsghdr) char buffer[32768];
  for (bool done = false; !done;) {
    const auto n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    auto length = static_cast<unsigned>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, length); h = NLMSG_NEXT(h, length)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
        done = true;
        break;
      }
      const auto* diag = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (ntohs(diag->id.idiag_sport) != local || ntohs(diag->id.idiag_dport) != remote) continue;
      auto attributes_length = static_cast<unsigned>(h->nlmsg_len - NLMSG_LENGTH(sizeof *diag));
      for (auto* a = reinterpret_cast<rtattr*>(const_cast<inet_diag_msg*>(diag) + 1); RTA_OK(a, attributes_length);
           a = RTA_NEXT(a, attributes_length)) {
        if (a->rta_type != INET_DIAG_SKMEMINFO || RTA_PAYLOAD(a) < SK_MEMINFO_WMEM_QUEUED * sizeof(std::uint32_t) + 4)
          continue;
        std::uint32_t info[SK_MEMINFO_VARS] = {};
        std::memcpy(info, RTA_DATA(a), std::min<std::size_t>(RTA_PAYLOAD(a), sizeof info));
        found = tcp_memory{info[SK_MEMINFO_WMEM_QUEUED], info[SK_MEMINFO_SNDBUF], diag->idiag_rqueue};
      }
    }
  }
  ::close(fd);
  return found;
}

}  // namespace drawbridge::testing
