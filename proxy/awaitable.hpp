#pragma once
// The proxy's names for the coroutine vocabulary of net/awaitable.hpp (the one definition): task<T> and
// use_tuple, and `net` for Boost.Asio.

#include "net/awaitable.hpp"

namespace drawbridge::proxy {

namespace net = boost::asio;
using net_types::task;
using net_types::use_tuple;

}  // namespace drawbridge::proxy
