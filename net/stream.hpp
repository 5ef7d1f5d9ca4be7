#pragma once
// The I/O types every worker uses, bound to the concrete io_context executor rather than the type-erased
// any_io_executor: each asynchronous step would otherwise copy and destroy a polymorphic executor.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>

namespace drawbridge::net_types {

using executor = boost::asio::io_context::executor_type;
using socket = boost::asio::ip::tcp::socket::rebind_executor<executor>::other;
using acceptor = boost::asio::ip::tcp::acceptor::rebind_executor<executor>::other;
using timer = boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                                 boost::asio::wait_traits<std::chrono::steady_clock>, executor>;
using stream = boost::beast::basic_stream<boost::asio::ip::tcp, executor, boost::beast::unlimited_rate_policy>;

}  // namespace drawbridge::net_types
