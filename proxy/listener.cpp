#include "proxy/listener.hpp"

#include <spdlog/spdlog.h>

namespace drawbridge::proxy {

namespace {

// Certificates about to expire, and an ACME listener still on its placeholder (browsers warn).
void warn_about(const tls::server_contexts& built, std::size_t position) {
  for (const auto& line : built.expiring(std::chrono::system_clock::now(), std::chrono::hours(24 * 14)))
    spdlog::warn("listeners[{}].tls: certificate {}", position, line);
  for (const auto& c : built.certificates())
    if (c.source == "placeholder")
      spdlog::warn(
          "listeners[{}].tls: no ACME certificate for {} yet: serving a self-signed placeholder until the "
          "order completes",
          position, c.names.empty() ? std::string("?") : c.names.front());
}

}  // namespace

std::optional<std::string> load_certificates(listener& l, std::size_t position) {
  if (!l.tls()) return std::nullopt;
  std::string error;
  auto built = tls::server_contexts::build(*l.config.tls, error);
  if (!built) return "listeners[" + std::to_string(position) + "].tls: " + error;
  warn_about(*built, position);
  l.contexts.store(std::move(built), std::memory_order_release);
  return std::nullopt;
}

prepared_certificates prepare_certificates(const std::vector<std::shared_ptr<listener>>& listeners) {
  prepared_certificates out;
  out.contexts.resize(listeners.size());
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    if (!listeners[i]->tls()) continue;
    std::string error;
    out.contexts[i] = tls::server_contexts::build(*listeners[i]->config.tls, error);
    if (!out.contexts[i]) out.errors.push_back("listeners[" + std::to_string(i) + "].tls: " + error);
  }
  return out;
}

void install_certificates(const std::vector<std::shared_ptr<listener>>& listeners, prepared_certificates prepared) {
  for (std::size_t i = 0; i < listeners.size() && i < prepared.contexts.size(); ++i) {
    auto& built = prepared.contexts[i];
    if (!built) continue;
    warn_about(*built, i);
    listeners[i]->contexts.store(std::move(built), std::memory_order_release);
  }
}

std::vector<std::string> load_certificates(const std::vector<std::shared_ptr<listener>>& listeners) {
  auto prepared = prepare_certificates(listeners);
  auto errors = prepared.errors;
  if (errors.empty()) install_certificates(listeners, std::move(prepared));  // all or nothing
  return errors;
}

}  // namespace drawbridge::proxy
