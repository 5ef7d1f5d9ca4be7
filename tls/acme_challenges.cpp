#include "tls/acme_challenges.hpp"

namespace drawbridge::tls {

acme_challenges& acme_challenges::instance() {
  static acme_challenges table;
  return table;
}

template <typename Edit>
void acme_challenges::change(Edit edit) {
  std::lock_guard lock(writers_);
  auto next = std::make_shared<snapshot>(*current_.load(std::memory_order_acquire));
  edit(*next);
  tls_alpn_open_.store(next->tls_alpn.size(), std::memory_order_relaxed);
  current_.store(std::move(next), std::memory_order_release);
}

void acme_challenges::add_http(const std::string& token, const std::string& key_authorization) {
  change([&](snapshot& s) { s.http[token] = key_authorization; });
}

void acme_challenges::remove_http(const std::string& token) {
  change([&](snapshot& s) { s.http.erase(token); });
}

std::optional<std::string> acme_challenges::http_answer(std::string_view token) const {
  const auto s = current_.load(std::memory_order_acquire);
  const auto found = s->http.find(token);
  if (found == s->http.end()) return std::nullopt;
  return found->second;
}

void acme_challenges::add_tls_alpn(const std::string& name, std::shared_ptr<const certificate> cert) {
  change([&](snapshot& s) { s.tls_alpn[name] = std::move(cert); });
}

void acme_challenges::remove_tls_alpn(const std::string& name) {
  change([&](snapshot& s) { s.tls_alpn.erase(name); });
}

std::shared_ptr<const certificate> acme_challenges::tls_alpn_certificate(std::string_view name) const {
  const auto s = current_.load(std::memory_order_acquire);
  const auto found = s->tls_alpn.find(name);
  return found == s->tls_alpn.end() ? nullptr : found->second;
}

}  // namespace drawbridge::tls
