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
  for (std::size_t i = 0; i < listeners.size(); ++i)
    if (auto error = load_certificates(*listeners[i], i)) errors.push_back(std::move(*error));
  return errors;
}

}  // namespace drawbridge::proxy
