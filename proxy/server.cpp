#include "proxy/server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "proxy/worker.hpp"

namespace drawbridge::proxy {

using tcp = boost::asio::ip::tcp;

server::server(std::shared_ptr<const runtime> rt)
    : runtime_(std::move(rt)), source_(runtime_), per_address_(runtime_->config.limits.max_connections_per_ip) {}

server::~server() {
  stop();
  wait();
}

namespace {

// A listening socket for `endpoint`, as a worker's own acceptor makes one (SO_REUSEPORT, so that each
// worker has one and the kernel spreads connections). Throws std::system_error.
int bind_listening_socket(const tcp::endpoint& endpoint) {
  const int fd = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category());
  const int on = 1;
  auto fail = [fd] {
    const int error = errno;
    ::close(fd);
    throw std::system_error(error, std::generic_category());
  };
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
    fail();
  if (endpoint.address().is_v6() && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) fail();
  if (::bind(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0 || ::listen(fd, SOMAXCONN) != 0) fail();
  return fd;
}

tcp::endpoint local_endpoint_of(int fd, const tcp::endpoint& like) {
  tcp::endpoint out = like;
  auto size = static_cast<socklen_t>(out.capacity());
  if (::getsockname(fd, out.data(), &size) != 0) throw std::system_error(errno, std::generic_category());
  out.resize(size);
  return out;
}

owned_fd duplicate(int fd) {
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) throw std::system_error(errno, std::generic_category(), "cannot duplicate a listening socket");
  return owned_fd(copy);
}

}  // namespace

void server::start(listening_sockets inherited) {
  const auto& config = runtime_->config;
  unsigned count = config.workers;
  if (count == 0)
    count = std::clamp(std::thread::hardware_concurrency(), 1u, static_cast<unsigned>(metrics::max_workers));
  for (unsigned id = 0; id < count; ++id)
    workers_.push_back(std::make_unique<worker>(id, source_, connections_, per_address_));

  // Each worker accepts on a socket of its own for every listener; the sockets of one address form a
  // SO_REUSEPORT group, over which the kernel spreads connections. Worker 0's is bound to what the config
  // says, the others' to the very same address (a port 0 resolved to the kernel's choice).
  std::size_t taken_over = 0;
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    const auto& address = config.listeners[i].address;
    const auto& key = runtime_->listeners[i]->name;
    const auto where_text = "listeners[" + std::to_string(i) + "].address: ";
    auto node = inherited.extract(key);
    auto handed = node.empty() ? std::vector<owned_fd>{} : std::move(node.mapped());
    taken_over += handed.size();
    boost::system::error_code ec;
    const auto ip = boost::asio::ip::make_address(address.host, ec);
    if (ec) throw std::runtime_error(where_text + "\"" + address.host + "\" is not an IP address");
    tcp::endpoint where(ip, address.port);
    auto& kept = sockets_[key];
    auto accept_on = [&](std::size_t w, owned_fd fd) {
      kept.push_back(duplicate(fd.get()));
      workers_[w % count]->listen(std::move(fd), where.protocol(), runtime_->listeners[i]);
    };
    try {
      if (!handed.empty()) where = local_endpoint_of(handed.front().get(), where);
      for (std::size_t w = 0; w < std::max<std::size_t>(count, handed.size()); ++w) {
        // Every inherited socket is accepted on (by some worker): closing one would reset the connections
        // waiting in its queue.
        if (w < handed.size()) {
          accept_on(w, std::move(handed[w]));
          continue;
        }
        owned_fd fd(bind_listening_socket(where));
        if (w == 0) where = local_endpoint_of(fd.get(), where);
        accept_on(w, std::move(fd));
      }
    } catch (const std::system_error& e) {
      throw std::runtime_error(where_text + "cannot listen on " + conf::to_string(address) + ": " + e.code().message());
    }
    endpoints_.push_back(where);
  }
  for (auto& [address, fds] : inherited)
    spdlog::warn("{} socket(s) of listener {} handed over by the old process: closed, the config no longer has it",
                 fds.size(), address);
  for (auto& w : workers_) w->start();
  for (std::size_t i = 0; i < endpoints_.size(); ++i)
    spdlog::info("listening on {}:{} with {} worker(s){}{}", endpoints_[i].address().to_string(), endpoints_[i].port(),
                 count,
                 runtime_->listeners[i]->tls()                   ? " (TLS)"
                 : runtime_->listeners[i]->config.redirect_https ? " (redirects to HTTPS)"
                                                                 : "",
                 taken_over > 0 ? " (sockets taken over from the old process)" : "");
}

void server::stop() {
  stopping_.store(true);
  {
    const std::lock_guard lock(endpoints_mutex_);
    sockets_.clear();
  }
  const auto grace = source_.current()->config.timeouts.shutdown_grace;
  for (auto& w : workers_) w->stop(grace);
}

void server::wait() {
  for (auto& w : workers_) w->join();
}

void server::publish(std::shared_ptr<const runtime> next) {
  if (!next) throw std::invalid_argument("no runtime to publish");
  if (workers_.empty()) throw std::logic_error("server::publish before start()");
  if (stopping_.load()) throw std::runtime_error("the proxy is shutting down");
  const auto current = source_.current();
  const auto refusals = swap_refusals(*current, *next);
  if (!refusals.empty()) {
    std::string all;
    for (const auto& r : refusals) all.append(all.empty() ? "" : "; ").append(r);
    throw std::invalid_argument(all);
  }

  // Listeners at an address the current runtime does not have: one socket per worker, all bound before
  // anything changes, so that a failure (an address in use) leaves everything as it was.
  // The sockets are owned by `handed` until a worker takes them: any way out of here closes them.
  std::vector<std::vector<handed_listener>> handed(workers_.size());
  std::vector<tcp::endpoint> bound(next->listeners.size());
  listening_sockets added;
  const auto generation = source_.generation() + 1;  // next's, once published (one publisher at a time)
  for (std::size_t i = 0; i < next->listeners.size(); ++i) {
    const auto& l = next->listeners[i];
    if (find_listener(current->listeners, l->name) != current->listeners.end()) continue;
    const auto& address = l->config.address;
    const auto where_text = "listeners[" + std::to_string(i) + "].address: ";
    boost::system::error_code ec;
    const auto ip = boost::asio::ip::make_address(address.host, ec);
    if (ec) throw std::runtime_error(where_text + "\"" + address.host + "\" is not an IP address");
    try {
      tcp::endpoint where(ip, address.port);
      for (std::size_t w = 0; w < workers_.size(); ++w) {
        owned_fd fd(bind_listening_socket(where));
        if (w == 0) where = bound[i] = local_endpoint_of(fd.get(), where);  // port 0: the others take the same one
        added[l->name].push_back(duplicate(fd.get()));
        handed[w].push_back({std::move(fd), where.protocol(), l, generation});
      }
    } catch (const std::system_error& e) {
      throw std::runtime_error(where_text + "cannot listen on " + conf::to_string(address) + ": " + e.code().message());
    }
  }

  per_address_.set_limit(next->config.limits.max_connections_per_ip);
  for (std::size_t w = 0; w < workers_.size(); ++w)
    for (auto& h : handed[w]) workers_[w]->hand_over(std::move(h));
  {
    const std::lock_guard lock(endpoints_mutex_);
    std::vector<tcp::endpoint> endpoints;
    for (std::size_t i = 0; i < next->listeners.size(); ++i) {
      const auto& l = next->listeners[i];
      const auto was = find_listener(current->listeners, l->name);
      endpoints.push_back(was == current->listeners.end()
                              ? bound[i]
                              : endpoints_[static_cast<std::size_t>(was - current->listeners.begin())]);
      if (was == current->listeners.end())
        spdlog::info("listening on {}:{} with {} worker(s){} (added by a config reload)",
                     bound[i].address().to_string(), bound[i].port(), workers_.size(), l->tls() ? " (TLS)" : "");
    }
    for (const auto& c : current->listeners)
      if (find_listener(next->listeners, c->name) == next->listeners.end()) {
        sockets_.erase(c->name);
        spdlog::info("listener {} removed by a config reload: no new connections; open ones finish", c->name);
      }
    endpoints_ = std::move(endpoints);
    if (!stopping_.load()) sockets_.merge(added);  // stop() let go of them all, and of these too
  }
  source_.publish(std::move(next));
}

server::listening_sockets server::duplicate_sockets() const {
  const std::lock_guard lock(endpoints_mutex_);
  listening_sockets out;
  for (const auto& [address, fds] : sockets_)
    for (const auto& fd : fds) out[address].push_back(duplicate(fd.get()));
  return out;
}

std::vector<std::uint64_t> server::worker_ticks() const {
  std::vector<std::uint64_t> out;
  for (const auto& w : workers_) out.push_back(w->ticks());
  return out;
}

}  // namespace drawbridge::proxy
