#pragma once
// One configured listener as the workers see it: its settings and, for an HTTPS listener, the TLS contexts
// new handshakes use. A certificate reload swaps the contexts whole; sessions that already started keep
// the set they began with (they hold it), so a reload never disturbs an open connection.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/address.hpp"
#include "conf/config.hpp"
#include "tls/server_contexts.hpp"

namespace drawbridge::proxy {

struct listener {
  explicit listener(conf::listener_config c) : config(std::move(c)), name(conf::to_string(config.address)) {}

  bool tls() const { return config.tls.has_value(); }
  // A config reload changed the listener at this address: its counts start where `old`'s are (sessions
  // still on `old` count there until they end).
  void carry_counts_from(const listener& old) {
    handshakes.store(old.handshakes.load(std::memory_order_relaxed), std::memory_order_relaxed);
    handshake_failures.store(old.handshake_failures.load(std::memory_order_relaxed), std::memory_order_relaxed);
    resumed.store(old.resumed.load(std::memory_order_relaxed), std::memory_order_relaxed);
    full.store(old.full.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  // The contexts for the next handshake; null for a plain listener. Any thread.
  std::shared_ptr<const tls::server_contexts> current_contexts() const {
    return contexts.load(std::memory_order_acquire);
  }

  const conf::listener_config config;
  // What identifies the listener beyond one runtime (its metrics, a reload's match): its address as
  // configured, "127.0.0.1:8080" (the metrics' listener label).
  const std::string name;
  std::atomic<std::shared_ptr<const tls::server_contexts>> contexts;
  // Counted by the workers' sessions, which see the listener as const.
  mutable std::atomic<std::uint64_t> handshakes{0};
  mutable std::atomic<std::uint64_t> handshake_failures{0};
  mutable std::atomic<std::uint64_t> resumed{0};  // handshakes that resumed a session (ticket or cache)
  mutable std::atomic<std::uint64_t> full{0};     // the others (kept apart so each count only grows)
};

// The listener at address `name` (its identity: addresses are unique in a config) in a runtime's list,
// or listeners.end().
inline std::vector<std::shared_ptr<listener>>::const_iterator find_listener(
    const std::vector<std::shared_ptr<listener>>& listeners, std::string_view name) {
  return std::find_if(listeners.begin(), listeners.end(), [&](const auto& l) { return l->name == name; });
}

// Loads the certificates of every HTTPS listener (again, on a config reload). All or nothing: when any
// fails to load, every listener keeps the contexts it has. Returns one line per problem, naming the listener
// and the file ("listeners[1].tls: certs/a.key: the key does not match the certificate in certs/a.pem").
// Warns in the log about certificates that expire within 14 days.
std::vector<std::string> load_certificates(const std::vector<std::shared_ptr<listener>>& listeners);
// The two halves of it, for a config reload that may still be refused between them: the contexts built
// (one per listener, null for a plain one) and the problems; then, once nothing can fail any more, put in
// service (with the expiry warnings). Nothing is installed by prepare_certificates.
struct prepared_certificates {
  std::vector<std::shared_ptr<const tls::server_contexts>> contexts;
  std::vector<std::string> errors;
};
prepared_certificates prepare_certificates(const std::vector<std::shared_ptr<listener>>& listeners);
void install_certificates(const std::vector<std::shared_ptr<listener>>& listeners, prepared_certificates prepared);
// The same for one listener, at `position` in the config's listeners; the problem, if any.
std::optional<std::string> load_certificates(listener& l, std::size_t position);

}  // namespace drawbridge::proxy
