#include "net/readiness.hpp"

#include <boost/version.hpp>
#include <type_traits>

namespace drawbridge::net_types {

static_assert(BOOST_VERSION / 100 == 1081, "net/readiness.cpp reaches into Asio 1.81's epoll reactor: check it "
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

// descriptor_state::try_speculative_ is private. An explicit instantiation may name it (access checks do
// not apply there), and the friend function it defines hands out the member pointer.
flags descriptor_state::*speculative_flags();
template <flags descriptor_state::*Member>
struct expose_speculative_flags {
  friend flags descriptor_state::*speculative_flags() { return Member; }
};
template struct expose_speculative_flags<&descriptor_state::try_speculative_>;

}  // namespace

epoll_reactor::per_descriptor_data& readiness_detail::descriptor(socket_layer& s) {
  return (s.*(&socket_access::impl_)).get_implementation().reactor_data_;
}

void mark_drained(socket_layer& s) {
  if (auto* d = readiness_detail::descriptor(s)) (d->*speculative_flags())[epoll_reactor::read_op] = false;
}

bool may_have_input(socket_layer& s) {
  auto* d = readiness_detail::descriptor(s);
  return !d || (d->*speculative_flags())[epoll_reactor::read_op];
}

}  // namespace drawbridge::net_types
