#include "proxy/listener.hpp"

#include <spdlog/spdlog.h>

namespace drawbridge::proxy {

std::vector<std::string> load_certificates(const std::vector<std::unique_ptr<listener>>& listeners) {
  std::vector<std::string> errors;
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    auto& l = *listeners[i];
    if (!l.tls()) continue;
    std::string error;
    auto built = tls::server_contexts::build(*l.config.tls, error);
    if (!built) {
      errors.push_back("listeners[" + std::to_string(i) + "].tls: " + error);
      continue;
    }
    for (const auto& line : built->expiring(std::chrono::system_clock::now(), std::chrono::hours(24 * 14)))
      spdlog::warn("listeners[{}].tls: certificate {}", i, line);
    l.contexts.store(std::move(built), std::memory_order_release);
  }
  return errors;
}

}  // namespace drawbridge::proxy
