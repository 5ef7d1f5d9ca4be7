#include "admin/acme_manager.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl/context.hpp>
#include <ctime>

#include "acme/acme_client.hpp"
#include "acme/jws.hpp"
#include "acme/storage.hpp"
#include "net/spawn_logged.hpp"
#include "tls/acme_challenges.hpp"
#include "tls/self_signed.hpp"

namespace drawbridge::admin {

namespace net = boost::asio;
using net_types::task;
using net_types::use_tuple;
using std::chrono::system_clock;

namespace {

// How long a TLS-ALPN-01 challenge certificate is valid: the validation takes seconds.
constexpr std::chrono::hours challenge_lifetime{24};

std::string format_time(system_clock::time_point t) {
  const std::time_t seconds = system_clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// The listener named `name` among `listeners`, with its position; null when it is gone or has no ACME.
std::shared_ptr<proxy::listener> find_acme_listener(const acme_manager::listener_list& listeners,
                                                    const std::string& name, std::size_t& position) {
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    const auto& l = listeners[i];
    if (l->name == name && l->config.tls && l->config.tls->acme) {
      position = i;
      return l;
    }
  }
  return nullptr;
}

}  // namespace

struct acme_manager::loop {
  loop(net_types::executor ex, std::string n) : name(std::move(n)), timer(ex) {}
  std::string name;
  net_types::timer timer;  // the wait for the next order; cancelled to look again
  net::cancellation_signal stop;
  bool forced = false;  // renew_now: order at the next look
  system_clock::time_point retry_at{};  // after a failure: not before
  unsigned refusals = 0;                // refused (or failed once placed) in a row: the long backoff's step
  bool ended = false;
};

acme_manager::acme_manager(net::io_context& io, std::function<const listener_list&()> listeners)
    : io_(io), listeners_(std::move(listeners)) {}

acme_manager::~acme_manager() = default;

std::chrono::seconds acme_manager::unreachable_backoff(unsigned failures) {
  const unsigned doublings = std::min(failures == 0 ? 0U : failures - 1, 8U);
  return std::min(std::chrono::seconds(2) * (1U << doublings), std::chrono::seconds(300));
}

std::chrono::seconds acme_manager::refused_backoff(unsigned failures) {
  const unsigned doublings = std::min(failures == 0 ? 0U : failures - 1, 5U);
  return std::min(std::chrono::seconds(3600) * (1U << doublings), std::chrono::seconds(24 * 3600));
}

double acme_manager::jitter(double low, double high) { return std::uniform_real_distribution<double>(low, high)(random_); }

void acme_manager::adopt() {
  if (stopped_) return;
  const auto& listeners = listeners_();
  for (const auto& l : listeners) {
    if (!l->config.tls || !l->config.tls->acme) continue;
    if (const auto found = loops_.find(l->name); found != loops_.end()) {
      found->second->timer.cancel();  // its config may have changed: look again
      continue;
    }
    auto self = std::make_shared<loop>(io_.get_executor(), l->name);
    loops_[l->name] = self;
    net::co_spawn(io_, run(self),
                  net::bind_cancellation_slot(self->stop.slot(), [name = l->name](const std::exception_ptr& escaped) {
                    if (escaped)
                      spdlog::error("acme: listener {}: the loop ended: {}", name,
                                    net_types::describe_exception(escaped));
                  }));
  }
  // Loops of listeners gone (or without ACME now) see it at their next look.
  for (const auto& [name, self] : loops_) self->timer.cancel();
}

void acme_manager::stop() {
  stopped_ = true;
  for (const auto& [name, self] : loops_) {
    self->stop.emit(net::cancellation_type::terminal);
    self->timer.cancel();
  }
}

std::map<std::string, system_clock::time_point> acme_manager::renew_now(const std::string& only) {
  std::map<std::string, system_clock::time_point> waiting;
  const auto now = system_clock::now();
  for (const auto& [name, self] : loops_) {
    if (!only.empty() && name != only) continue;
    const auto& state = states_[name];
    if (state.order_failed && state.last_order + std::chrono::hours(1) > now) {
      waiting[name] = state.last_order + std::chrono::hours(1);
      continue;
    }
    self->forced = true;
    self->retry_at = {};
    self->timer.cancel();
  }
  return waiting;
}

system_clock::time_point acme_manager::due(const proxy::listener& l, const acme_state& state) const {
  const auto& acme = *l.config.tls->acme;
  const auto now = system_clock::now();
  system_clock::time_point when = now;  // a placeholder, or a stored certificate that misses a name
  if (const auto contexts = l.current_contexts()) {
    for (const auto& s : contexts->certificates()) {
      if (s.source != "acme") continue;
      const bool covers = std::all_of(acme.domains.begin(), acme.domains.end(), [&](const std::string& d) {
        return std::find(s.names.begin(), s.names.end(), d) != s.names.end();
      });
      if (covers) when = s.not_after - acme.renew_before;
    }
  }
  // The hour rule holds whatever else asks for an order.
  if (state.order_failed) when = std::max(when, state.last_order + std::chrono::hours(1));
  return when;
}

task<void> acme_manager::run(std::shared_ptr<loop> self) {
  while (!stopped_) {
    std::size_t position = 0;
    const auto l = find_acme_listener(listeners_(), self->name, position);
    if (!l) {
      loops_.erase(self->name);
      states_.erase(self->name);
      co_return;
    }
    auto& state = states_[self->name];
    state.domains = l->config.tls->acme->domains;
    auto when = due(*l, state);
    if (self->forced)
      when = std::min(when, std::max(system_clock::now(), state.order_failed ? state.last_order + std::chrono::hours(1)
                                                                             : system_clock::now()));
    else
      when = std::max(when, self->retry_at);
    state.next_attempt = when;
    const auto now = system_clock::now();
    if (when > now) {
      // At most an hour at a time: the wall clock may jump, the certificate may change under a reload.
      self->timer.expires_after(std::min<system_clock::duration>(when - now, std::chrono::hours(1)));
      co_await self->timer.async_wait(use_tuple);
      continue;
    }
    self->forced = false;
    co_await attempt(self, position);
  }
}

task<void> acme_manager::attempt(std::shared_ptr<loop> self, std::size_t position) {
  const auto l = listeners_()[position];
  const auto acme = *l->config.tls->acme;  // a copy: a reload may replace the listener meanwhile
  auto& state = states_[self->name];
  state.ordering = true;
  spdlog::info("acme: listener {}: ordering a certificate for {} from {} ({})", self->name, joined(acme.domains),
               acme.directory, acme.challenge);

  bool placed = false;
  std::string failure;
  bool refused = false;
  std::optional<std::chrono::seconds> retry_after;
  try {
    net::ssl::context trust(net::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(trust.native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    if (acme.ca_file.empty())
      trust.set_default_verify_paths(ec);
    else
      trust.load_verify_file(acme.ca_file, ec);
    if (ec) throw acme::acme_failure(acme::acme_failure::kind::refused, (acme.ca_file.empty() ? "the system's roots"
                                                                                              : acme.ca_file) +
                                                                            ": cannot load CA certificates (" +
                                                                            ec.message() + ")");
    std::string error;
    auto account_key = acme::load_or_create_account_key(acme, error);
    if (!account_key) throw acme::acme_failure(acme::acme_failure::kind::refused, error);

    auto& challenges = tls::acme_challenges::instance();
    acme::challenge_hooks hooks;
    if (acme.challenge == "tls-alpn-01") {
      hooks.publish = [&challenges](const std::string& name, const std::string&, const std::string& key_authorization) {
        const auto digest = acme::sha256(key_authorization);
        challenges.add_tls_alpn(name, std::make_shared<const tls::certificate>(
                                          tls::make_self_signed({name}, challenge_lifetime, &digest)));
      };
      hooks.withdraw = [&challenges](const std::string& name, const std::string&) { challenges.remove_tls_alpn(name); };
    } else {
      hooks.publish = [&challenges](const std::string&, const std::string& token, const std::string& key_authorization) {
        challenges.add_http(token, key_authorization);
      };
      hooks.withdraw = [&challenges](const std::string&, const std::string& token) { challenges.remove_http(token); };
    }

    acme::acme_client client(trust, acme.directory, account_key.get());
    acme::order_request order{acme.domains, acme.challenge, acme.email, acme.eab};
    try {
      const auto issued = co_await client.obtain(order, hooks);
      placed = true;
      if (auto problem = acme::store_certificate(acme, issued.chain_pem, issued.key_pem))
        throw acme::acme_failure(acme::acme_failure::kind::refused, "cannot store the certificate: " + *problem);
    } catch (...) {
      placed = client.order_placed();
      throw;
    }
    // In service like a certificate reload, on the listener in service now (a reload may have replaced
    // the one the order began with; it reads the same storage).
    std::size_t now_at = 0;
    if (const auto current = find_acme_listener(listeners_(), self->name, now_at)) {
      if (auto problem = proxy::load_certificates(*current, now_at))
        throw acme::acme_failure(acme::acme_failure::kind::refused, "the stored certificate is refused: " + *problem);
      for (const auto& s : current->current_contexts()->certificates())
        if (s.source == "acme")
          spdlog::info("acme: listener {}: certificate for {} issued by {}, valid until {}: in service", self->name,
                       joined(s.names), s.issuer, format_time(s.not_after));
    }
  } catch (const acme::acme_failure& e) {
    failure = e.what();
    refused = e.what_kind == acme::acme_failure::kind::refused;
    retry_after = e.retry_after;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  state.ordering = false;
  if (placed) state.last_order = system_clock::now();
  if (failure.empty()) {
    ++counts_.ok;
    state.failures = 0;
    state.last_error.clear();
    state.order_failed = false;
    self->retry_at = {};
    self->refusals = 0;
    co_return;
  }
  if (stopped_) co_return;  // abandoned, not failed
  ++state.failures;
  state.last_error = failure;
  std::chrono::seconds wait{};
  if (refused || placed) {
    ++counts_.refused;
    state.order_failed = placed;
    wait = refused_backoff(++self->refusals);
    wait = std::chrono::seconds(static_cast<std::int64_t>(static_cast<double>(wait.count()) * jitter(1.0, 1.2)));
  } else {
    ++counts_.unreachable;
    wait = unreachable_backoff(state.failures);
    wait = std::chrono::seconds(
        std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(wait.count()) * jitter(0.5, 1.0))));
  }
  if (retry_after) wait = std::max(wait, std::min(*retry_after, std::chrono::seconds(7 * 24 * 3600)));
  self->retry_at = system_clock::now() + wait;
  spdlog::error("acme: listener {}: the order for {} failed ({} in a row): {}; next attempt at {} (in {} s)",
                self->name, joined(acme.domains), state.failures, failure, format_time(self->retry_at), wait.count());
}

}  // namespace drawbridge::admin
