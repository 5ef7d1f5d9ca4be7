#include "cluster/cluster_link.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "net/spawn_logged.hpp"
#include "tls/client_context.hpp"

namespace drawbridge::cluster {

using net_types::task;
using net_types::use_tuple;
using json = nlohmann::json;
using clock = std::chrono::steady_clock;

namespace {

// How often the link looks at its connections (replies overdue, heartbeat due, peers wanted).
constexpr auto tick_interval = std::chrono::milliseconds(50);
// A cluster-wide wait reads the other replicas' heartbeats this often.
constexpr auto fresh_peers_interval = std::chrono::milliseconds(100);
// Reconnection backoff: doubled after each failure up to the maximum, with up to a quarter of jitter so
// that replicas that lost Redis together do not come back in step.
constexpr auto first_backoff = std::chrono::milliseconds(100);
constexpr auto max_backoff = std::chrono::seconds(5);

// Compare the version, write, announce: one step, so that two replicas deciding on the same version
// cannot both record their change. Returns {1, new version} or {0, version, state, changed_by}.
constexpr const char* propose_script = R"lua(
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if v ~= tonumber(ARGV[1]) then
  return {0, v, redis.call('HGET', KEYS[1], 'state') or '', redis.call('HGET', KEYS[1], 'changed_by') or ''}
end
v = v + 1
redis.call('HSET', KEYS[1], 'version', v, 'state', ARGV[2], 'changed_by', ARGV[3], 'changed_at', ARGV[4])
redis.call('PUBLISH', KEYS[2], ARGV[5])
return {1, v}
)lua";

// Deletes a replica's heartbeat if it is this process's (its text holds "pid":N,).
constexpr const char* farewell_script = R"lua(
local v = redis.call('GET', KEYS[1])
if v and string.find(v, ARGV[1], 1, true) then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
)lua";

std::string default_replica_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "%s", "host");
  return std::string(host) + ":" + std::to_string(::getpid());
}

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<std::uint64_t> to_version(const std::string& text) {
  try {
    std::size_t used = 0;
    const auto v = std::stoull(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

}  // namespace

cluster_link::cluster_link(const net_types::executor& ex, conf::cluster_config config,
                           std::vector<std::string> upstreams, hooks h)
    : ex_(ex),
      config_(std::move(config)),
      upstreams_(std::move(upstreams)),
      hooks_(std::move(h)),
      replica_(config_.replica.empty() ? default_replica_name() : config_.replica),
      prefix_("drawbridge:" + config_.name + ":"),
      wake_(ex) {
  options_.url = config_.redis;
  options_.tls_server_name = config_.tls.sni;
  // A Redis that answers slower than this is as good as down for an admin call; at most 2 s, and never
  // longer than a heartbeat's lifetime.
  options_.timeout = std::min<std::chrono::milliseconds>(
      std::chrono::milliseconds(2000),
      std::max<std::chrono::milliseconds>(std::chrono::milliseconds(200),
                                          std::chrono::duration_cast<std::chrono::milliseconds>(config_.heartbeat)));
}

cluster_link::~cluster_link() = default;

std::vector<std::string> cluster_link::prepare() {
  std::vector<std::string> errors;
  if (!config_.password_file.empty()) {
    std::ifstream in(config_.password_file, std::ios::binary);
    if (!in) {
      errors.push_back("cluster.password_file: cannot read " + config_.password_file + ": " + std::strerror(errno));
    } else {
      std::ostringstream text;
      text << in.rdbuf();
      auto password = text.str();
      while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
      if (password.empty()) errors.push_back("cluster.password_file: " + config_.password_file + " is empty");
      options_.password = std::move(password);
    }
  }
  if (config_.redis.scheme == conf::redis_url::kind::tls) {
    std::string error;
    options_.tls = tls::build_client_context(config_.tls, error);
    if (!options_.tls) errors.push_back("cluster.tls: " + error);
  }
  return errors;
}

void cluster_link::start() {
  started_ = true;
  net_types::spawn_logged(ex_, run(), "cluster: link");
}

void cluster_link::stop() {
  if (stopping_) return;
  stopping_ = true;
  wake_.cancel();
  if (subscription_) subscription_->close("stopping");
  if (commands_ && commands_->is_open()) net_types::spawn_logged(ex_, farewell(commands_), "cluster: farewell");
}

// Leaving: the other replicas stop counting this one at once rather than when its heartbeat expires.
task<void> cluster_link::farewell(std::shared_ptr<redis_connection> c) {
  net_types::timer limit(ex_);
  limit.expires_after(std::chrono::milliseconds(500));
  limit.async_wait([c](boost::system::error_code ec) {
    if (!ec) c->close("stopping");
  });
  // Only this process's heartbeat: after a binary upgrade the successor, under the same replica name, may
  // have written its own already.
  co_await c->call(command("EVAL", farewell_script, "2", key("replica:" + replica_), key("replicas"),
                           "\"pid\":" + std::to_string(::getpid()) + ",", replica_));
  limit.cancel();
  c->close("stopping");
}

void cluster_link::want_fresh_peers(clock::time_point until) {
  fresh_peers_until_ = std::max(fresh_peers_until_, until);
}

task<void> cluster_link::run() {
  auto backoff = first_backoff;
  std::minstd_rand jitter(static_cast<unsigned>(::getpid()));
  while (!stopping_) {
    if (co_await session()) backoff = first_backoff;
    if (stopping_) break;
    const auto extra = backoff.count() > 4 ? std::chrono::milliseconds(jitter() % (backoff.count() / 4)) : backoff * 0;
    wake_.expires_after(backoff + extra);
    co_await wake_.async_wait(use_tuple);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, max_backoff);
  }
}

void cluster_link::lost(const std::string& why) {
  const bool was = connected_;
  connected_ = false;
  if (commands_) commands_->close(why);
  if (subscription_) subscription_->close(why);
  if (stopping_) return;
  // Said once per outage, not at every attempt.
  if (was || why != last_error_) {
    spdlog::error(
        "cluster: Redis at {} is unreachable ({}); serving on with the last shared state, admin changes "
        "refused until it is back",
        conf::to_string(config_.redis), why);
    hooks_.disconnected(why);
  }
  last_error_ = why;
}

task<bool> cluster_link::session() {
  auto error = std::make_shared<std::string>();
  commands_ = co_await redis_connection::open(ex_, options_, error);
  if (commands_) subscription_ = co_await redis_connection::open(ex_, options_, error);
  if (!commands_ || !subscription_) {
    lost(*error);
    co_return false;
  }
  // Subscribed before the state is read: a change recorded in between is announced, not missed.
  auto subscribed = co_await subscription_->subscribe(key("changes"));
  if (!subscribed.value || subscribed.value->is_error()) {
    lost("SUBSCRIBE: " + (subscribed.value ? subscribed.value->text : subscribed.error));
    co_return false;
  }
  std::map<std::string, shared_upstream> states;
  for (const auto& u : upstreams_) {
    auto s = co_await read_upstream(u);
    if (!s) {
      lost("reading the shared state: " + std::string(commands_->is_open() ? "bad reply" : "connection lost"));
      co_return false;
    }
    states.emplace(u, std::move(*s));
  }
  if (stopping_) co_return true;
  if (!last_error_.empty())
    spdlog::info("cluster: Redis at {} is reachable again", conf::to_string(config_.redis));
  else
    spdlog::info("cluster: replica {} joined cluster {} at {}", replica_, config_.name, conf::to_string(config_.redis));
  last_error_.clear();
  connected_ = true;
  loaded_ = true;
  hooks_.connected(states);
  net_types::spawn_logged(ex_, listen(subscription_), "cluster: subscription");

  auto next_beat = clock::now();
  auto next_peers = clock::now();
  while (!stopping_ && commands_->is_open() && subscription_->is_open()) {
    const auto now = clock::now();
    commands_->expire(now);
    subscription_->expire(now);
    if (now >= next_beat || beat_soon_) {
      beat_soon_ = false;
      next_beat = now + std::chrono::duration_cast<std::chrono::milliseconds>(config_.heartbeat);
      if (!co_await write_heartbeat()) break;
      subscription_->ping_subscriber();
      // A missed announcement (none is lost on a live connection, but a script may have failed midway)
      // is caught here within one heartbeat.
      for (const auto& u : upstreams_) {
        auto s = co_await read_upstream(u);
        if (!s) break;
        hooks_.changed(u, std::move(*s));
      }
      if (!commands_->is_open()) break;
    }
    if (now >= next_peers || (now < fresh_peers_until_ && now - peers_read_at_ >= fresh_peers_interval)) {
      next_peers = now + std::chrono::duration_cast<std::chrono::milliseconds>(config_.heartbeat);
      if (!co_await refresh_peers()) break;
    }
    wake_.expires_after(tick_interval);
    co_await wake_.async_wait(use_tuple);
  }
  if (!stopping_) {
    std::string why = "connection lost";
    if (!commands_->is_open()) why = "commands: connection closed";
    if (!subscription_->is_open()) why = "subscription: connection closed";
    lost(why);
  }
  co_return true;
}

task<void> cluster_link::listen(std::shared_ptr<redis_connection> sub) {
  for (;;) {
    auto pushed = co_await sub->next_push();
    if (!pushed.value || stopping_) co_return;
    const auto& r = *pushed.value;
    // ["message", channel, upstream]; PING's answer is ["pong", ""].
    if (r.kind != reply::type::array || r.elements.size() != 3 || r.elements[0].text != "message") continue;
    const auto upstream = r.elements[2].text;
    if (std::find(upstreams_.begin(), upstreams_.end(), upstream) == upstreams_.end()) continue;
    auto s = co_await read_upstream(upstream);
    if (s && !stopping_) hooks_.changed(upstream, std::move(*s));
  }
}

task<std::optional<shared_upstream>> cluster_link::read_upstream(std::string upstream) {
  auto c = commands_;
  const auto r = co_await c->call(command("HMGET", key("upstream:" + upstream), "version", "state", "changed_by"));
  if (!r.value || r.value->kind != reply::type::array || r.value->elements.size() != 3) co_return std::nullopt;
  const auto& e = r.value->elements;
  shared_upstream s;
  if (e[0].is_nil()) co_return s;  // nothing recorded yet
  const auto version = to_version(e[0].text);
  std::string error;
  auto state = upstream::upstream_from_json(e[1].text, error);
  if (!version || !state || state->name != upstream) {
    // Not what any replica writes: left alone (an operator's mistake, or another program's key).
    spdlog::error("cluster: {} in Redis is not a drawbridge upstream state ({}); ignored", key("upstream:" + upstream),
                  !version ? "bad version"
                  : !state ? error
                           : "another upstream's name");
    co_return s;
  }
  s.version = *version;
  s.state = std::move(state);
  s.changed_by = e[2].text;
  co_return s;
}

task<proposal_result> cluster_link::propose(std::string upstream, std::uint64_t expected,
                                            upstream::saved_upstream next) {
  proposal_result out;
  if (!connected_ || !commands_) {
    out.error = last_error_.empty() ? "not connected" : last_error_;
    co_return out;
  }
  auto c = commands_;
  const auto r = co_await c->call(command("EVAL", propose_script, "2", key("upstream:" + upstream), key("changes"),
                                          std::to_string(expected), upstream::upstream_to_json(next), replica_,
                                          std::to_string(unix_ms()), upstream));
  if (!r.value || r.value->is_error() || r.value->kind != reply::type::array || r.value->elements.empty()) {
    out.error = r.value ? (r.value->is_error() ? r.value->text : "unexpected reply to the script") : r.error;
    co_return out;
  }
  const auto& e = r.value->elements;
  if (e[0].integer == 1 && e.size() == 2) {
    out.result = proposal_result::outcome::committed;
    out.version = static_cast<std::uint64_t>(e[1].integer);
    co_return out;
  }
  if (e.size() != 4) {
    out.error = "unexpected reply to the script";
    co_return out;
  }
  out.result = proposal_result::outcome::conflict;
  out.current.version = static_cast<std::uint64_t>(e[1].integer);
  std::string error;
  if (!e[2].text.empty()) out.current.state = upstream::upstream_from_json(e[2].text, error);
  out.current.changed_by = e[3].text;
  co_return out;
}

task<bool> cluster_link::write_heartbeat() {
  auto body = hooks_.heartbeat();
  body["replica"] = replica_;
  body["at"] = unix_ms();
  const auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(3 * config_.heartbeat);
  auto c = commands_;
  const auto set =
      co_await c->call(command("SET", key("replica:" + replica_), body.dump(), "PX", std::to_string(ttl.count())));
  const auto add = co_await c->call(command("SADD", key("replicas"), replica_));
  co_return set.value && !set.value->is_error() && add.value && !add.value->is_error();
}

task<std::optional<std::vector<replica_report>>> cluster_link::replicas() {
  if (!connected_ || !commands_) co_return std::nullopt;
  auto c = commands_;
  const auto members = co_await c->call(command("SMEMBERS", key("replicas")));
  if (!members.value || members.value->kind != reply::type::array) co_return std::nullopt;
  const auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(3 * config_.heartbeat);
  std::vector<replica_report> out;
  for (const auto& m : members.value->elements) {
    const auto id = m.text;
    const auto got = co_await c->call(command("GET", key("replica:" + id)));
    const auto left = co_await c->call(command("PTTL", key("replica:" + id)));
    if (!got.value || !left.value) co_return std::nullopt;
    if (got.value->is_nil()) {
      // Its heartbeat expired: it no longer counts (and leaves the set).
      co_await c->call(command("SREM", key("replicas"), id));
      continue;
    }
    replica_report report;
    report.replica = id;
    report.heartbeat = json::parse(got.value->text, nullptr, /*allow_exceptions=*/false);
    if (report.heartbeat.is_discarded() || !report.heartbeat.is_object()) continue;
    report.age = std::max<std::chrono::milliseconds>(std::chrono::milliseconds(0),
                                                     ttl - std::chrono::milliseconds(left.value->integer));
    out.push_back(std::move(report));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.replica < b.replica; });
  co_return out;
}

task<bool> cluster_link::refresh_peers() {
  const auto asked_at = clock::now();
  auto all = co_await replicas();
  if (!all) co_return false;
  std::erase_if(*all, [this](const auto& r) { return r.replica == replica_; });
  peers_ = std::move(*all);
  peers_read_at_ = asked_at;
  co_return true;
}

}  // namespace drawbridge::cluster
