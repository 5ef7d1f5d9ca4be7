#include "proxy/server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <stdexcept>
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

void server::start() {
  const auto& config = runtime_->config;
  unsigned count = config.workers;
  if (count == 0)
    count = std::clamp(std::thread::hardware_concurrency(), 1u, static_cast<unsigned>(metrics::max_workers));

  // Worker 0 binds what the config says; the others bind the very same addresses (a port 0 resolved
  // to the kernel's choice), so that SO_REUSEPORT groups them and the kernel spreads connections.
  std::vector<tcp::endpoint> wanted;
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    const auto& address = config.listeners[i].address;
    boost::system::error_code ec;
    const auto ip = boost::asio::ip::make_address(address.host, ec);
    if (ec)
      throw std::runtime_error("listeners[" + std::to_string(i) + "].address: \"" + address.host +
                               "\" is not an IP address");
    wanted.emplace_back(ip, address.port);
  }
  for (unsigned id = 0; id < count; ++id) {
    auto w = std::make_unique<worker>(id, source_, connections_, per_address_);
    const auto& targets = id == 0 ? wanted : endpoints_;
    for (std::size_t i = 0; i < targets.size(); ++i) {
      try {
        w->listen(targets[i], runtime_->listeners[i]);
      } catch (const boost::system::system_error& e) {
        throw std::runtime_error("listeners[" + std::to_string(i) + "].address: cannot listen on " +
                                 conf::to_string(config.listeners[i].address) + ": " + e.code().message());
      }
    }
    if (id == 0) endpoints_ = w->local_endpoints();
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) w->start();
  for (std::size_t i = 0; i < endpoints_.size(); ++i)
    spdlog::info("listening on {}:{} with {} worker(s){}", endpoints_[i].address().to_string(), endpoints_[i].port(),
                 count,
                 runtime_->listeners[i]->tls()                   ? " (TLS)"
                 : runtime_->listeners[i]->config.redirect_https ? " (redirects to HTTPS)"
                                                                 : "");
}

void server::stop() {
  const auto grace = source_.current()->config.timeouts.shutdown_grace;
  for (auto& w : workers_) w->stop(grace);
}

void server::wait() {
  for (auto& w : workers_) w->join();
}

void server::publish(std::shared_ptr<const runtime> next) {
  if (!next) throw std::invalid_argument("no runtime to publish");
  const auto refusals = swap_refusals(*source_.current(), *next);
  if (!refusals.empty()) {
    std::string all;
    for (const auto& r : refusals) all.append(all.empty() ? "" : "; ").append(r);
    throw std::invalid_argument(all);
  }
  per_address_.set_limit(next->config.limits.max_connections_per_ip);
  source_.publish(std::move(next));
}

std::vector<std::uint64_t> server::worker_ticks() const {
  std::vector<std::uint64_t> out;
  for (const auto& w : workers_) out.push_back(w->ticks());
  return out;
}

}  // namespace drawbridge::proxy
