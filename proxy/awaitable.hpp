#pragma once
// The coroutine vocabulary shared by the proxy's async code: every operation completes as a tuple
// (error_code first), so no exception ever crosses an async step.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace drawbridge::proxy {

namespace net = boost::asio;
inline constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

}  // namespace drawbridge::proxy
