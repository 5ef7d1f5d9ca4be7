#include "admin/acme_manager.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/this_coro.hpp>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "acme/acme_client.hpp"
#include "acme/jws.hpp"
#include "acme/sealed.hpp"
#include "acme/storage.hpp"
#include "net/spawn_logged.hpp"
#include "tls/acme_challenges.hpp"
#include "tls/acme_files.hpp"
#include "tls/self_signed.hpp"

namespace drawbridge::admin {

namespace net = boost::asio;
using net_types::task;
using net_types::use_tuple;
using std::chrono::system_clock;

namespace {

// How long a TLS-ALPN-01 challenge certificate is valid: the validation takes seconds.
constexpr std::chrono::hours challenge_lifetime{24};
// Cluster mode: how often a replica looks for a certificate another one stored.
constexpr std::chrono::seconds shared_check{30};
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
  loop(const net_types::executor& ex, std::string n) : name(std::move(n)), timer(ex) {}
  std::string name;
  net_types::timer timer;  // the wait for the next order; cancelled to look again
  net::cancellation_signal stop;
  bool forced = false;                     // renew_now: order at the next look
  system_clock::time_point retry_at{};     // after a failure: not before
  system_clock::time_point ca_asked_at{};  // the CA's Retry-After: not before, even when forced
  unsigned refusals = 0;                   // refused (or failed once placed) in a row: the long backoff's step
  bool ended = false;
};

acme_manager::acme_manager(net::io_context& io, std::function<const listener_list&()> listeners)
    : io_(io), listeners_(std::move(listeners)) {}

acme_manager::~acme_manager() { files_.join(); }

task<std::optional<std::string>> acme_manager::blocking(const std::function<std::optional<std::string>()>& job) {
  struct outcome {
    explicit outcome(const net_types::executor& ex) : done(ex) {}
    net_types::timer done;
    std::optional<std::string> problem;  // written on files_ before the post that sets `finished`
    bool finished = false;               // control thread
  };
  auto o = std::make_shared<outcome>(co_await net::this_coro::executor);
  o->done.expires_at(net_types::timer::time_point::max());
  net::post(files_, [o, job] {
    o->problem = job();
    net::post(o->done.get_executor(), [o] {
      o->finished = true;
      o->done.cancel();
    });
  });
  co_await o->done.async_wait(use_tuple);
  if (!o->finished) co_return std::string("stopping");
  co_return o->problem;
}

std::chrono::seconds acme_manager::unreachable_backoff(unsigned failures) {
  const unsigned doublings = std::min(failures == 0 ? 0U : failures - 1, 8U);
  return std::min(std::chrono::seconds(2) * (1U << doublings), std::chrono::seconds(300));
}

std::chrono::seconds acme_manager::refused_backoff(unsigned failures) {
  const unsigned doublings = std::min(failures == 0 ? 0U : failures - 1, 5U);
  return std::min(std::chrono::seconds(3600) * (1U << doublings), std::chrono::seconds(24 * 3600));
}

double acme_manager::jitter(double low, double high) {
  return std::uniform_real_distribution<double>(low, high)(random_);
}

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
    // Before the first look, and before any admin call: an order failed within the hour holds across restarts.
    if (auto& state = states_[l->name]; state.last_order.time_since_epoch().count() == 0)
      remember_failed_order(*l->config.tls->acme, state);
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
  for (const auto& [id, timer] : remote_) timer->cancel();
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
      // renew_before, but never in the first third of the lifetime: a renew_before as long as the
      // certificate lasts would otherwise order again at once, and again.
      if (covers) when = std::max(s.not_after - acme.renew_before, s.not_before + (s.not_after - s.not_before) / 3);
    }
  }
  // The hour rule holds whatever else asks for an order.
  if (state.order_failed) when = std::max(when, state.last_order + std::chrono::hours(1));
  return when;
}

task<void> acme_manager::run(std::shared_ptr<loop> self) {
  while (!stopped_) {
    try {
      co_await look(self);
    } catch (const std::exception& e) {
      if (stopped_) co_return;  // the stop's cancellation, thrown by the next co_await
      spdlog::error("acme: listener {}: {}; looking again in a minute", self->name, e.what());
      self->retry_at = system_clock::now() + std::chrono::minutes(1);
    }
    if (self->ended) co_return;
  }
}

task<void> acme_manager::look(std::shared_ptr<loop> self) {
  std::size_t position = 0;
  const auto l = find_acme_listener(listeners_(), self->name, position);
  if (!l) {
    self->ended = true;
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
  when = std::max(when, self->ca_asked_at);
  state.next_attempt = when;
  const auto now = system_clock::now();
  if (when > now) {
    // At most an hour at a time: the wall clock may jump, the certificate may change under a reload. In a
    // cluster, every 30 s: another replica may have stored a newer certificate.
    const auto wait = std::min<system_clock::duration>(when - now, link_ ? shared_check : std::chrono::hours(1));
    self->timer.expires_after(wait);
    const auto [ec] = co_await self->timer.async_wait(use_tuple);
    if (!ec && link_ && !stopped_ && system_clock::now() < when) co_await attempt(self, false);
    co_return;
  }
  self->forced = false;
  co_await attempt(self, true);
}

// The hour rule outlives the process: the time of a failed order is kept under `storage` (and, in a
// cluster, in Redis for an hour, for the other replicas: attempt() writes it before the lock goes).
namespace {
std::string failed_order_path(const conf::acme_config& acme) {
  return acme.storage + "/" + acme.domains.front() + ".failed";
}
}  // namespace

void acme_manager::remember_failed_order(const conf::acme_config& acme, acme_state& state) {
  std::ifstream in(failed_order_path(acme));
  long long seconds = 0;
  if (!(in >> seconds) || seconds <= 0) return;
  state.last_order = system_clock::time_point(std::chrono::seconds(seconds));
  state.order_failed = true;
}

void acme_manager::record_failed_order(const conf::acme_config& acme) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(system_clock::now().time_since_epoch()).count();
  net::post(files_, [path = failed_order_path(acme), text = std::to_string(now) + "\n"] {
    if (auto problem = acme::write_private_file(path, text))
      spdlog::warn("acme: cannot note the failed order ({}): a restart within the hour may order again", *problem);
  });
}

void acme_manager::forget_failed_order(const conf::acme_config& acme) {
  std::error_code ignored;
  std::filesystem::remove(failed_order_path(acme), ignored);
}

void acme_manager::publish(const std::string& type, const std::string& name, const std::string& token,
                           const std::string& key_authorization, bool announce) {
  auto& challenges = tls::acme_challenges::instance();
  if (type == "tls-alpn-01") {
    const auto digest = acme::sha256(key_authorization);
    challenges.add_tls_alpn(
        name, std::make_shared<const tls::certificate>(tls::make_self_signed({name}, challenge_lifetime, &digest)));
  } else {
    challenges.add_http(token, key_authorization);
  }
  if (announce)
    announce_challenge(
        {{"op", "add"}, {"type", type}, {"name", name}, {"token", token}, {"key_authorization", key_authorization}});
}

void acme_manager::withdraw(const std::string& type, const std::string& name, const std::string& token, bool announce) {
  auto& challenges = tls::acme_challenges::instance();
  if (type == "tls-alpn-01")
    challenges.remove_tls_alpn(name);
  else
    challenges.remove_http(token);
  if (announce) announce_challenge({{"op", "remove"}, {"type", type}, {"name", name}, {"token", token}});
}

task<std::optional<std::string>> acme_manager::install(const std::string& name, const conf::acme_config& acme,
                                                       const std::string& pem) {
  std::string error;
  if (!tls::parse_certificate(pem, pem, "the certificate", "its key", error)) co_return error;
  const std::function<std::optional<std::string>()> store = [acme, pem] { return acme::store_bundle(acme, pem); };
  if (auto problem = co_await blocking(store)) co_return "cannot store the certificate: " + *problem;
  // In service like a certificate reload, on the listener in service now (a reload may have replaced the
  // one the order began with; it reads the same storage).
  std::size_t now_at = 0;
  if (const auto current = find_acme_listener(listeners_(), name, now_at)) {
    if (auto problem = proxy::load_certificates(*current, now_at))
      co_return "the stored certificate is refused: " + *problem;
    for (const auto& s : current->current_contexts()->certificates())
      if (s.source == "acme")
        spdlog::info("acme: listener {}: certificate for {} issued by {}, valid until {}: in service", name,
                     joined(s.names), s.issuer, format_time(s.not_after));
  }
  co_return std::nullopt;
}

task<void> acme_manager::attempt(std::shared_ptr<loop> self, bool due) {
  std::size_t position = 0;
  const auto l = find_acme_listener(listeners_(), self->name, position);  // as in service now
  if (!l) co_return;
  const auto acme = *l->config.tls->acme;  // a copy: a reload may replace the listener meanwhile
  auto& state = states_[self->name];

  bool placed = false;
  bool ordered = false;
  std::string failure;
  bool refused = false;
  std::optional<std::chrono::seconds> retry_after;
  std::string lock_name, lock_token;
  try {
    if (link_ && link_->connected()) {
      // What another replica ordered comes first: no order for what the cluster has already.
      if (const auto pem = co_await shared_certificate(acme, *l)) {
        if (auto problem = co_await install(self->name, acme, *pem))
          throw acme::acme_failure(acme::acme_failure::kind::refused, *problem);
        spdlog::info("acme: listener {}: took the certificate for {} another replica ordered", self->name,
                     joined(acme.domains));
        state.failures = 0;
        state.last_error.clear();
        self->retry_at = {};
        co_return;
      }
      if (!due) co_return;
      // The hour after a failed order holds for every replica, not only the one that placed it.
      auto failed_ttl = cluster::command("PTTL", link_->shared_key("acme:failed:" + acme.domains.front()));
      const auto failed = co_await link_->call(std::move(failed_ttl));
      if (failed && failed->kind == cluster::reply::type::integer && failed->integer > 0) {
        self->retry_at = system_clock::now() + std::chrono::milliseconds(failed->integer);
        spdlog::info("acme: listener {}: an order for {} failed on another replica; next attempt at {}", self->name,
                     joined(acme.domains), format_time(self->retry_at));
        co_return;
      }
      lock_name = link_->shared_key("acme:lock:" + acme.domains.front());
      lock_token = link_->instance() + "/" + std::to_string(random_());
      // Held for as long as an order can take (each authorization and the order settle within their
      // limit, with requests around them), gone by itself if this process dies.
      const auto hold = std::chrono::duration_cast<std::chrono::milliseconds>(
          (acme::acme_client::settle_limit + std::chrono::seconds(60)) * (acme.domains.size() + 1));
      auto set = cluster::command("SET", lock_name, lock_token, "NX", "PX", std::to_string(hold.count()));
      const auto taken = co_await link_->call(std::move(set));
      if (taken && taken->is_nil()) {
        spdlog::debug("acme: listener {}: another replica is ordering {}; looking again soon", self->name,
                      joined(acme.domains));
        self->retry_at = system_clock::now() + std::chrono::seconds(2);
        co_return;
      }
      if (!taken || taken->is_error()) lock_token.clear();
    } else if (!due) {
      co_return;
    }
    if (link_ && lock_token.empty()) {
      // Redis unreachable: alone, only when what this listener serves cannot wait.
      bool urgent = true;
      if (const auto contexts = l->current_contexts())
        for (const auto& s : contexts->certificates())
          if (s.source == "acme" && s.not_after > system_clock::now() + std::chrono::hours(24 * 7)) urgent = false;
      if (!urgent) {
        self->retry_at = system_clock::now() + std::chrono::seconds(30);
        spdlog::warn("acme: listener {}: the renewal of {} waits for Redis (the replicas order in turn)", self->name,
                     joined(acme.domains));
        co_return;
      }
    }

    state.ordering = true;
    spdlog::info("acme: listener {}: ordering a certificate for {} from {} ({})", self->name, joined(acme.domains),
                 acme.directory, acme.challenge);
    net::ssl::context trust(net::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(trust.native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    if (acme.ca_file.empty())
      trust.set_default_verify_paths(ec);
    else
      trust.load_verify_file(acme.ca_file, ec);
    if (ec)
      throw acme::acme_failure(acme::acme_failure::kind::refused,
                               (acme.ca_file.empty() ? "the system's roots" : acme.ca_file) +
                                   ": cannot load CA certificates (" + ec.message() + ")");
    // Made (and fsynced) off the control thread the first time.
    auto account = std::make_shared<tls::pkey_ptr>();
    const std::function<std::optional<std::string>()> load_account = [acme, account]() -> std::optional<std::string> {
      std::string problem;
      *account = acme::load_or_create_account_key(acme, problem);
      if (!*account) return problem;
      return std::nullopt;
    };
    if (auto problem = co_await blocking(load_account))
      throw acme::acme_failure(acme::acme_failure::kind::refused, *problem);
    auto& account_key = *account;
    std::string error;

    const bool announce = link_ && !lock_token.empty();
    acme::challenge_hooks hooks;
    hooks.publish = [this, type = acme.challenge, announce](const std::string& name, const std::string& token,
                                                            const std::string& key_authorization) {
      publish(type, name, token, key_authorization, announce);
    };
    hooks.withdraw = [this, type = acme.challenge, announce](const std::string& name, const std::string& token) {
      withdraw(type, name, token, announce);
    };
    if (announce) hooks.settle = std::chrono::seconds(1);

    acme::acme_client client(trust, acme.directory, account_key.get());
    acme::order_request order{acme.domains, acme.challenge, acme.email, acme.eab};
    try {
      const auto issued = co_await client.obtain(order, hooks);
      placed = true;
      ordered = true;
      const auto pem = acme::bundle(issued.chain_pem, issued.key_pem);
      if (auto problem = co_await install(self->name, acme, pem))
        throw acme::acme_failure(acme::acme_failure::kind::refused, *problem);
      forget_failed_order(acme);
      if (link_) {
        const auto key = acme::read_sealing_key(key_file_, error);
        std::optional<cluster::reply> shared;
        if (key) {
          const auto name = link_->shared_key("acme:certificate:" + acme.domains.front());
          auto set = cluster::command("SET", name, acme::seal(*key, name, pem));
          shared = co_await link_->call(std::move(set));
        }
        if (!shared || shared->is_error())
          spdlog::warn(
              "acme: listener {}: the certificate is in service here but not shared with the other "
              "replicas ({}): they will order their own",
              self->name, key ? "Redis did not take it" : error);
      }
    } catch (...) {
      placed = placed || client.order_placed();
      throw;
    }
  } catch (const acme::acme_failure& e) {
    failure = e.what();
    refused = e.what_kind == acme::acme_failure::kind::refused;
    retry_after = e.retry_after;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (placed && !failure.empty() && link_ && !stopped_) {
    // The hour for every replica, noted before the lock goes (else another could take it and order).
    auto note = cluster::command(
        "SET", link_->shared_key("acme:failed:" + acme.domains.front()),
        std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(system_clock::now().time_since_epoch()).count()),
        "PX", "3600000");
    co_await link_->call(std::move(note));
  }
  if (!lock_token.empty() && link_ && !stopped_) {  // stopping: the lock expires by itself
    // Released only if still ours (it may have expired and gone to another replica).
    auto release = cluster::command(
        "EVAL", "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
        "1", lock_name, lock_token);
    co_await link_->call(std::move(release));
  }
  state.ordering = false;
  if (!due) {  // only a look for another replica's certificate: a failure waits for the real attempt
    if (!failure.empty()) spdlog::debug("acme: listener {}: no shared certificate to take: {}", self->name, failure);
    co_return;
  }
  if (placed) state.last_order = system_clock::now();
  if (failure.empty()) {
    if (ordered) ++counts_.ok;
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
    if (placed) record_failed_order(acme);
    wait = refused_backoff(++self->refusals);
    wait = std::chrono::seconds(static_cast<std::int64_t>(static_cast<double>(wait.count()) * jitter(1.0, 1.2)));
  } else {
    ++counts_.unreachable;
    wait = unreachable_backoff(state.failures);
    wait = std::chrono::seconds(
        std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(wait.count()) * jitter(0.5, 1.0))));
  }
  if (retry_after) {
    const auto asked = std::min(*retry_after, std::chrono::seconds(7 * 24 * 3600));
    wait = std::max(wait, asked);
    self->ca_asked_at = system_clock::now() + asked;  // a forced renewal waits for it too
  }
  self->retry_at = system_clock::now() + wait;
  spdlog::error("acme: listener {}: the order for {} failed ({} in a row): {}; next attempt at {} (in {} s)",
                self->name, joined(acme.domains), state.failures, failure, format_time(self->retry_at), wait.count());
}

}  // namespace drawbridge::admin
