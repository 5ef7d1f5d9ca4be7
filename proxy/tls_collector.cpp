#include "proxy/tls_collector.hpp"

#include <chrono>
#include <string>

#include "conf/address.hpp"
#include "metrics/family.hpp"

namespace drawbridge::proxy {

using metrics::add_sample;
using metrics::family;
using prometheus::MetricType;

std::vector<prometheus::MetricFamily> tls_collector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  out.reserve(2);
  auto& handshakes = out.emplace_back(family(
      "drawbridge_tls_handshakes_total", MetricType::Counter,
      "TLS handshakes with clients, by listener and result: full, resumed (a session ticket or cache hit), failed."));
  auto& expiry = out.emplace_back(family(
      "drawbridge_tls_certificate_expiry_timestamp_seconds", MetricType::Gauge,
      "When each served certificate expires (Unix time), by listener, the certificate's first name and its file."));
  for (const auto& l : listeners_) {
    if (!l->tls()) continue;
    const auto name = conf::to_string(l->config.address);
    add_sample(handshakes, {{"listener", name}, {"result", "full"}},
               static_cast<double>(l->full.load(std::memory_order_relaxed)));
    add_sample(handshakes, {{"listener", name}, {"result", "resumed"}},
               static_cast<double>(l->resumed.load(std::memory_order_relaxed)));
    add_sample(handshakes, {{"listener", name}, {"result", "failed"}},
               static_cast<double>(l->handshake_failures.load(std::memory_order_relaxed)));
  }
  for (const auto& l : listeners_) {
    const auto contexts = l->current_contexts();
    if (!contexts) continue;
    const auto name = conf::to_string(l->config.address);
    for (const auto& cert : contexts->certificates()) {
      const auto& cert_name = cert.names.empty() ? cert.subject : cert.names.front();
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(cert.not_after.time_since_epoch());
      add_sample(expiry, {{"listener", name}, {"name", cert_name}, {"file", cert.cert_path}},
                 static_cast<double>(seconds.count()));
    }
  }
  return out;
}

}  // namespace drawbridge::proxy
