#include "proxy/listener.hpp"

#include <spdlog/spdlog.h>

namespace drawbridge::proxy {

std::optional<std::string> load_certificates(listener& l, std::size_t position) {
  if (!l.tls()) return std::nullopt;
  std::string error;
  auto built = tls::server_contexts::build(*l.config.tls, error);
  if (!built) return "listeners[" + std::to_string(position) + "].tls: " + error;
  for (const auto& line : built->expiring(std::chrono::system_clock::now(), std::chrono::hours(24 * 14)))
    spdlog::warn("listeners[{}].tls: certificate {}", position, line);
  l.contexts.store(std::move(built), std::memory_order_release);
  return std::nullopt;
}

std::vector<std::string> load_certificates(const std::vector<std::shared_ptr<listener>>& listeners) {
  std::vector<std::string> errors;
  std::vector<std::shared_ptr<const tls::server_contexts>> built(listeners.size());
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    if (!listeners[i]->tls()) continue;
    std::string error;
    built[i] = tls::server_contexts::build(*listeners[i]->config.tls, error);
    if (!built[i]) errors.push_back("listeners[" + std::to_string(i) + "].tls: " + error);
  }
  if (!errors.empty()) return errors;  // all or nothing: no listener changes when one cannot
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    if (!built[i]) continue;
    for (const auto& line : built[i]->expiring(std::chrono::system_clock::now(), std::chrono::hours(24 * 14)))
      spdlog::warn("listeners[{}].tls: certificate {}", i, line);
    listeners[i]->contexts.store(std::move(built[i]), std::memory_order_release);
  }
  return errors;
}

}  // namespace drawbridge::proxy
