#include "net/io_now.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio/error.hpp>
#include <cerrno>

#include "net/readiness.hpp"

namespace drawbridge::net_types {

std::size_t send_now(socket& s, const boost::asio::const_buffer* buffers, std::size_t count,
                     boost::system::error_code& ec) {
  ec = {};
  constexpr std::size_t max_iov = 16;  // more than any caller passes; a longer list goes out in part
  iovec iov[max_iov];
  std::size_t n = 0;
  for (std::size_t i = 0; i < count && n < max_iov; ++i) {
    if (buffers[i].size() == 0) continue;
    iov[n].iov_base = const_cast<void*>(buffers[i].data());
    iov[n].iov_len = buffers[i].size();
    ++n;
  }
  if (n == 0) return 0;
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = n;
  for (;;) {
    // MSG_NOSIGNAL: a peer that went away is an EPIPE here, not a SIGPIPE for the process.
    const auto sent = ::sendmsg(s.native_handle(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent >= 0) return static_cast<std::size_t>(sent);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      ec = boost::asio::error::would_block;
    else
      ec.assign(errno, boost::system::system_category());
    return 0;
  }
}

std::size_t recv_now(socket& s, boost::asio::mutable_buffer buffer, boost::system::error_code& ec) {
  ec = {};
  const auto got = ::recv(s.native_handle(), buffer.data(), buffer.size(), MSG_DONTWAIT);
  if (got > 0) {
    if (static_cast<std::size_t>(got) < buffer.size()) note_short_read(s);
    return static_cast<std::size_t>(got);
  }
  if (got == 0) {
    ec = boost::asio::error::eof;
  } else if (errno == EINTR) {
    ec = boost::asio::error::interrupted;
  } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
    ec = boost::asio::error::would_block;
    mark_drained(s);  // right after the read that found nothing, as readiness.hpp asks
  } else {
    ec.assign(errno, boost::system::system_category());
  }
  return 0;
}

}  // namespace drawbridge::net_types
