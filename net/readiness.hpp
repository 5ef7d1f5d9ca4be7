#pragma once
// What Asio's epoll reactor knows of a socket's readiness, used to save system calls on the request path.
//
// Asio registers every socket with epoll once, edge-triggered, and keeps per socket a flag "may be
// readable" that each epoll report sets. It clears that flag almost never, so every read starts with a
// speculative recv() (which finds nothing when the peer has yet to answer), and every async_wait re-arms
// epoll with EPOLL_CTL_MOD: one system call each time, where HAProxy makes none. Here the flag is cleared
// by us, right after one of our own reads found the socket empty, so that:
//  - the next read waits for epoll instead of trying first;
//  - a readiness wait (async_wait_readable) is queued without touching epoll.
// Both are safe because an edge-triggered epoll reports every arrival after that empty read, and Asio sets
// the flag again when it does: nothing that arrives later is missed.
//
// A read that returns fewer bytes than it asked for also emptied the socket of data, but not necessarily
// of the peer's close: TCP hands out the bytes before a FIN in one read and the end of stream in the next,
// and the epoll report of bytes and FIN together is spent by then. So a short read marks the socket
// drained only when epoll has been asked to report the peer's close too (watch_peer_close: EPOLLRDHUP,
// which Asio does not ask for) and its reports so far carry none. A close reported before the read is
// then seen in the report Asio kept (every report after a FIN carries EPOLLRDHUP); one reported after it
// sets the flag again like any arrival.
//
// mark_drained and note_short_read must be called right after the read of ours they describe, with
// nothing in between that can run the reactor (no co_await): an arrival reported in between would
// otherwise be forgotten. All these functions touch the reactor's per-socket state without its lock:
// call them only on the thread that runs the socket's io_context (each worker runs its own on one thread,
// without reactor locking).
//
// This reaches into Asio's epoll reactor (Boost 1.81, as Debian 12 ships it; readiness.cpp checks). Built
// with DRAWBRIDGE_PORTABLE_IO (CMake option, and the default for any other Boost), the same functions use
// Asio's public API only: nothing is ever known empty, every read is tried first and every wait is a plain
// async_wait. Same behaviour, one more system call per read and per wait.

#include <boost/asio/async_result.hpp>
#include <boost/system/error_code.hpp>
#include <utility>

#include "net/stream.hpp"

#ifndef DRAWBRIDGE_PORTABLE_IO

#include <boost/asio/detail/epoll_reactor.hpp>
#include <boost/asio/detail/reactive_wait_op.hpp>
#include <boost/asio/execution_context.hpp>

namespace drawbridge::net_types {

// Whether the functions below see Asio's readiness flags (false: the portable path, which knows nothing).
inline constexpr bool readiness_hints = true;

namespace readiness_detail {
using reactor = boost::asio::detail::epoll_reactor;
reactor::per_descriptor_data& descriptor(socket_layer& s);
// The reactor `s` is registered with, from the socket's own state (Asio's use_service would look it up
// under the io_context's service mutex on every wait).
reactor& reactor_of(socket_layer& s);
}  // namespace readiness_detail

// Records that a read of ours has just found `s` empty (EAGAIN). See above for when it may be called.
void mark_drained(socket_layer& s);

// False when `s` was marked drained and epoll has reported nothing for it since.
bool may_have_input(socket_layer& s);

// Asks epoll to report the peer's close of `s` as such (EPOLLRDHUP), once per socket: one system call the
// first time, none after. If the peer closed already, epoll reports it at once. False if it could not.
bool watch_peer_close(socket_layer& s);

// Records that a read of ours has just returned fewer bytes than it asked for. Marks `s` drained when
// epoll watches it for the peer's close and has reported none; otherwise changes nothing.
void note_short_read(socket_layer& s);

// True when `s` was marked drained, epoll watches it for the peer's close, and the worker has handled no
// report for it since (bytes, a close, an error). Not seen here: what epoll has yet to report (queued in
// the kernel), and what epoll_wait returned in this turn of the worker's loop but the loop has yet to
// handle, except a close (epoll_wait's result is stored at once, and carries EPOLLRDHUP). Both are seen
// within a turn of the loop.
bool known_empty(socket_layer& s);

// Calls handler(error_code) once `s` may be readable (or the wait is cancelled or the socket closed), like
// s.async_wait(wait_read, handler), but without the system call when `s` was marked drained.
template <typename Handler>
void async_wait_readable(socket_layer& s, Handler handler) {
  using op = boost::asio::detail::reactive_wait_op<Handler, executor>;
  auto& reactor = readiness_detail::reactor_of(s);
  typename op::ptr p = {std::addressof(handler), op::ptr::allocate(handler), nullptr};
  p.p = new (p.v) op(boost::system::error_code(), handler, s.get_executor());
  // allow_speculative: the op's "try" is to complete at once (it reads nothing), which the reactor does
  // only while the socket may have input; otherwise it is queued for epoll's next report.
  reactor.start_op(readiness_detail::reactor::read_op, s.native_handle(), readiness_detail::descriptor(s), p.p,
                   /*is_continuation=*/false, /*allow_speculative=*/true);
  p.v = p.p = nullptr;
}

// The same wait for a completion token (use_tuple, in a coroutine): co_await wait_readable(s, use_tuple).
template <typename CompletionToken>
auto wait_readable(socket_layer& s, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
      [&s](auto handler) { async_wait_readable(s, std::move(handler)); }, token);
}

}  // namespace drawbridge::net_types

#else  // DRAWBRIDGE_PORTABLE_IO: the same contract, with nothing known about the socket.

namespace drawbridge::net_types {

inline constexpr bool readiness_hints = false;

inline void mark_drained(socket_layer&) {}
inline bool may_have_input(socket_layer&) { return true; }
// Nothing watches for the peer's close here; callers then never take a socket as known empty.
inline bool watch_peer_close(socket_layer&) { return false; }
inline void note_short_read(socket_layer&) {}
inline bool known_empty(socket_layer&) { return false; }

template <typename Handler>
void async_wait_readable(socket_layer& s, Handler handler) {
  s.async_wait(socket_layer::wait_read, std::move(handler));
}

template <typename CompletionToken>
auto wait_readable(socket_layer& s, CompletionToken&& token) {
  return s.async_wait(socket_layer::wait_read, std::forward<CompletionToken>(token));
}

}  // namespace drawbridge::net_types

#endif  // DRAWBRIDGE_PORTABLE_IO
