#pragma once
// The I/O types every worker uses, bound to the concrete io_context executor rather than the type-erased
// any_io_executor: each asynchronous step would otherwise copy and destroy a polymorphic executor.
// Plain sockets, not Beast's basic_stream: reads and writes are timed by proxy/io_deadline.hpp.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

namespace drawbridge::net_types {

using executor = boost::asio::io_context::executor_type;
using socket = boost::asio::ip::tcp::socket::rebind_executor<executor>::other;
// What both a plain socket and a TLS stream have at the bottom: what deadlines cancel and shutdown closes.
using socket_layer = socket::lowest_layer_type;
using acceptor = boost::asio::ip::tcp::acceptor::rebind_executor<executor>::other;
using timer = boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                                boost::asio::wait_traits<std::chrono::steady_clock>, executor>;

}  // namespace drawbridge::net_types
