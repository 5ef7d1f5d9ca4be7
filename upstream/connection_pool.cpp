#include "upstream/connection_pool.hpp"

#include "net/readiness.hpp"
#include "upstream/upstream_tls.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace drawbridge::upstream {

upstream_connection::upstream_connection(const net_types::executor& ex) : socket(ex) {
  buffer.max_size(max_node_buffer);
}
upstream_connection::~upstream_connection() = default;

// Before a reuse: has the node closed the connection, or sent bytes beyond its last response (a wrong
// Content-Length, a late error page), which would otherwise be read as the answer to the next client's
// request? A non-blocking peek looks; when it finds the socket empty, the socket is marked drained
// (net/readiness.hpp), so that the answer to the request about to be sent is waited for without a first
// read that would find nothing.
//
// With `trust_epoll`, a plain connection that epoll knows to be empty is taken without the peek: the last
// response's final read left it empty (read_response_head), epoll watches it for the node's close, and
// nothing has been reported since. That is what nginx and HAProxy rely on for every request. It is
// blind to what arrived within the last turn of the worker's loop (net/readiness.hpp, known_empty): a
// close then makes the request fail before any answer, and a replayable request is then sent again on a
// fresh connection (exchange.cpp); stray bytes then would be read as the answer (a node's bug: bytes
// beyond its own response). Requests that cannot be replayed are always peeked at.
bool still_open(upstream_connection& connection, bool trust_epoll) {
  auto& socket = connection.socket;
  if (!socket.is_open()) return false;
  if (connection.tls && has_buffered_input(*connection.tls)) return false;
  if (trust_epoll && !connection.tls && net_types::known_empty(socket)) return true;
  char byte = 0;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // 0 = orderly close; > 0 = bytes nobody asked for (a late error page, garbage): unusable either way.
  if (n >= 0) return false;
  if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
  net_types::mark_drained(socket);
  return true;
}

connection_pool::connection_pool(std::size_t node_count, conf::keepalive_config config)
    : config_(config), idle_(node_count) {}

connection_pool::~connection_pool() { close_all(); }

bool connection_pool::expired(const upstream_connection& c, clock::time_point now) const {
  return now - c.idle_since >= config_.idle_timeout;
}

std::unique_ptr<upstream_connection> connection_pool::acquire(int node, clock::time_point now, bool replayable) {
  auto& list = idle_[static_cast<std::size_t>(node)];
  while (!list.empty()) {
    auto connection = std::move(list.back());
    list.pop_back();
    if (!expired(*connection, now) && still_open(*connection, replayable)) return connection;
    boost::system::error_code ignored;
    connection->socket.close(ignored);
  }
  return nullptr;
}

void connection_pool::release(int node, std::unique_ptr<upstream_connection> connection, clock::time_point now) {
  auto& list = idle_[static_cast<std::size_t>(node)];
  boost::system::error_code ignored;
  if (connection->requests >= config_.max_requests || list.size() >= config_.max_idle_per_node ||
      connection->buffer.size() != 0 || !connection->socket.is_open() ||
      (connection->tls && has_buffered_input(*connection->tls))) {
    connection->socket.close(ignored);
    return;
  }
  // Give the read buffer back while idle: an idle connection should cost a socket, not a buffer.
  connection->buffer.shrink_to_fit();
  connection->idle_since = now;
  list.push_back(std::move(connection));
}

void connection_pool::sweep(clock::time_point now) {
  for (auto& list : idle_) {
    std::erase_if(list, [&](std::unique_ptr<upstream_connection>& c) {
      if (!expired(*c, now) && still_open(*c)) return false;
      boost::system::error_code ignored;
      c->socket.close(ignored);
      return true;
    });
  }
}

void connection_pool::close_node(int node) {
  auto& list = idle_[static_cast<std::size_t>(node)];
  for (auto& c : list) {
    boost::system::error_code ignored;
    c->socket.close(ignored);
  }
  list.clear();
}

void connection_pool::reassign(const std::vector<int>& old_index) {
  std::vector<std::vector<std::unique_ptr<upstream_connection>>> moved(old_index.size());
  for (std::size_t i = 0; i < old_index.size(); ++i)
    if (old_index[i] >= 0) moved[i] = std::move(idle_[static_cast<std::size_t>(old_index[i])]);
  close_all();  // what was not moved belongs to removed nodes
  idle_ = std::move(moved);
}

void connection_pool::take_over(connection_pool& from, int from_node, int node) {
  auto& source = from.idle_[static_cast<std::size_t>(from_node)];
  auto& target = idle_[static_cast<std::size_t>(node)];
  for (auto& c : source) target.push_back(std::move(c));  // oldest first in each: close enough
  source.clear();
  // The new keep-alive settings may allow fewer: the oldest go.
  while (target.size() > config_.max_idle_per_node) {
    boost::system::error_code ignored;
    target.front()->socket.close(ignored);
    target.erase(target.begin());
  }
}

void connection_pool::close_all() {
  for (std::size_t i = 0; i < idle_.size(); ++i) close_node(static_cast<int>(i));
}

}  // namespace drawbridge::upstream
