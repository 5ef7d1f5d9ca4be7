#pragma once
// The coroutine vocabulary shared by the proxy's async code: every operation completes as a tuple
// (error_code first), so no exception ever crosses an async step.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "net/stream.hpp"

namespace drawbridge::proxy {

namespace net = boost::asio;
// Coroutines bound to the worker's concrete executor (see net/stream.hpp).
template <typename T>
using task = net::awaitable<T, net_types::executor>;
inline constexpr auto use_tuple = net::as_tuple(net::use_awaitable_t<net_types::executor>{});

}  // namespace drawbridge::proxy
