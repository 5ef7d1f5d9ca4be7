#pragma once
// Reads and writes on a plain socket that never wait, for the request path.
//  - send_now: a gather write, as much as the kernel takes now, in one sendmsg(). Asio's async_write does
//    the same first try, but then hands its completion to the io_context's queue, and the coroutine
//    resumes only on the queue's next turn (after an epoll_wait when the reactor comes first). The
//    request path goes on at once when everything went out, which is nearly always (a small answer is far
//    below the socket's buffer); the rest is Asio's to wait for.
//  - recv_now: one read of what is there, which also tells the reactor what it saw (net/readiness.hpp):
//    EAGAIN marks the socket drained, a short read notes it. Call it only where readiness.hpp allows
//    (the worker's thread).

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>

#include "net/stream.hpp"

namespace drawbridge::net_types {

// Bytes sent from `buffers[0..count)` (all of them, or fewer when the socket buffer filled up: then with
// ec = would_block if none went out). Other errors as Asio reports them (broken_pipe, connection_reset...).
std::size_t send_now(socket& s, const boost::asio::const_buffer* buffers, std::size_t count,
                     boost::system::error_code& ec);

// Bytes read into `buffer`, or 0 with `ec`: asio::error::eof (the peer closed), would_block (nothing
// there; the socket is now marked drained), interrupted (a signal: nothing is known, nothing marked), or
// the socket's error.
std::size_t recv_now(socket& s, boost::asio::mutable_buffer buffer, boost::system::error_code& ec);

}  // namespace drawbridge::net_types
