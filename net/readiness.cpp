#include "net/readiness.hpp"

#ifndef DRAWBRIDGE_PORTABLE_IO  // else everything is inline in readiness.hpp

#include <sys/epoll.h>
#include <boost/version.hpp>

#include <cstdint>
#include <type_traits>

namespace drawbridge::net_types {

static_assert(BOOST_VERSION / 100 == 1081,
              "net/readiness.cpp reaches into Asio 1.81's epoll reactor: check it "
              "against this Boost version");
static_assert(std::is_same_v<boost::asio::detail::reactor, boost::asio::detail::epoll_reactor>,
              "net/readiness.cpp expects Asio's epoll reactor");

namespace {

using boost::asio::detail::epoll_reactor;
using descriptor_state = epoll_reactor::descriptor_state;
using flags = bool[epoll_reactor::max_ops];

// The socket's implementation (its descriptor and reactor data), a protected member of basic_socket.
struct socket_access : socket_layer {
  using socket_layer::impl_;
};

// Private members of Asio's reactor, reached the one way the language allows: an explicit instantiation
// may name them (access checks do not apply there), and the friend function it defines hands out the
// member pointer.
//  - descriptor_state::try_speculative_: per operation type, "may be ready" (see readiness.hpp);
//  - descriptor_state::registered_events_: what the socket is registered with epoll for;
//  - scheduler_operation::task_result_: the events of epoll's last report for the socket (Asio stores
//    them there to hand them to perform_io, and leaves them);
//  - descriptor_state::reactor_: the reactor the socket is registered with;
//  - epoll_reactor::epoll_fd_.
flags descriptor_state::*speculative_flags();
epoll_reactor* descriptor_state::*owner();
std::uint32_t descriptor_state::*registered_events();
unsigned int boost::asio::detail::scheduler_operation::*last_report();
int epoll_reactor::*epoll_fd();
template <flags descriptor_state::*Member>
struct expose_speculative_flags {
  friend flags descriptor_state::*speculative_flags() { return Member; }
};
template struct expose_speculative_flags<&descriptor_state::try_speculative_>;
template <epoll_reactor* descriptor_state::*Member>
struct expose_owner {
  friend epoll_reactor* descriptor_state::*owner() { return Member; }
};
template struct expose_owner<&descriptor_state::reactor_>;
template <std::uint32_t descriptor_state::*Member>
struct expose_registered_events {
  friend std::uint32_t descriptor_state::*registered_events() { return Member; }
};
template struct expose_registered_events<&descriptor_state::registered_events_>;
template <unsigned int boost::asio::detail::scheduler_operation::*Member>
struct expose_last_report {
  friend unsigned int boost::asio::detail::scheduler_operation::*last_report() { return Member; }
};
template struct expose_last_report<&boost::asio::detail::scheduler_operation::task_result_>;
template <int epoll_reactor::*Member>
struct expose_epoll_fd {
  friend int epoll_reactor::*epoll_fd() { return Member; }
};
template struct expose_epoll_fd<&epoll_reactor::epoll_fd_>;

// descriptor_state derives privately from scheduler_operation; a C-style cast is the conversion that
// ignores that access.
unsigned int last_report_of(descriptor_state* d) {
  return ((boost::asio::detail::scheduler_operation*)d)->*last_report();
}

// Epoll watches `d` for the peer's close and has reported none (nor an error or hang-up).
bool no_close_reported(descriptor_state* d) {
  return ((d->*registered_events()) & EPOLLRDHUP) != 0 && (last_report_of(d) & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0;
}

}  // namespace

epoll_reactor::per_descriptor_data& readiness_detail::descriptor(socket_layer& s) {
  return (s.*(&socket_access::impl_)).get_implementation().reactor_data_;
}

epoll_reactor& readiness_detail::reactor_of(socket_layer& s) {
  // A closed socket has no descriptor state; the lookup by service then finds the same reactor.
  if (auto* d = descriptor(s)) return *(d->*owner());
  return boost::asio::use_service<epoll_reactor>(s.get_executor().context());
}

void mark_drained(socket_layer& s) {
  if (auto* d = readiness_detail::descriptor(s)) (d->*speculative_flags())[epoll_reactor::read_op] = false;
}

bool may_have_input(socket_layer& s) {
  auto* d = readiness_detail::descriptor(s);
  return !d || (d->*speculative_flags())[epoll_reactor::read_op];
}

bool watch_peer_close(socket_layer& s) {
  auto* d = readiness_detail::descriptor(s);
  if (!d) return false;
  auto& registered = d->*registered_events();
  if (registered == 0) return false;  // not in epoll at all
  if ((registered & EPOLLRDHUP) != 0) return true;
  auto& reactor = readiness_detail::reactor_of(s);
  // What Asio registered, plus EPOLLRDHUP, recorded where Asio keeps it: Asio's own later changes (adding
  // EPOLLOUT) start from it and keep the addition.
  epoll_event ev{};
  ev.events = registered | EPOLLRDHUP;
  ev.data.ptr = d;
  if (::epoll_ctl(reactor.*epoll_fd(), EPOLL_CTL_MOD, s.native_handle(), &ev) != 0) return false;
  registered = ev.events;
  return true;
}

void note_short_read(socket_layer& s) {
  auto* d = readiness_detail::descriptor(s);
  if (d && no_close_reported(d)) (d->*speculative_flags())[epoll_reactor::read_op] = false;
}

bool known_empty(socket_layer& s) {
  auto* d = readiness_detail::descriptor(s);
  return d && !(d->*speculative_flags())[epoll_reactor::read_op] && no_close_reported(d);
}

}  // namespace drawbridge::net_types

#endif  // DRAWBRIDGE_PORTABLE_IO
