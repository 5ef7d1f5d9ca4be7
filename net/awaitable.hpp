#pragma once
// The coroutine vocabulary shared by all async code (workers and the control thread): every operation
// completes as a tuple (error_code first), so no exception ever crosses an async step.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "net/stream.hpp"

namespace drawbridge::net_types {

// Coroutines bound to the concrete io_context executor (see net/stream.hpp).
template <typename T>
using task = boost::asio::awaitable<T, executor>;
inline constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable_t<executor>{});

}  // namespace drawbridge::net_types
