#include "cluster/cluster_link.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

#include "net/spawn_logged.hpp"
#include "tls/client_context.hpp"

namespace drawbridge::cluster {

using net_types::task;
using net_types::use_tuple;
using json = nlohmann::json;
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// How often the link looks at its connections and whether peers are wanted.
constexpr auto tick_interval = milliseconds(50);
// A cluster-wide wait reads the other replicas' heartbeats this often.
constexpr auto fresh_peers_interval = milliseconds(100);
// Reconnection backoff: doubled after each failure up to the maximum, with up to a quarter of jitter so
// that replicas that lost Redis together do not come back in step. A session must have lasted three
// heartbeats for the backoff to start again from the first: a Redis that accepts and then fails every
// command is not hammered.
constexpr auto first_backoff = milliseconds(100);
constexpr auto max_backoff = max_reconnect_backoff;

// Compare the version, write, announce: one step, so that two replicas deciding on the same version
// cannot both record their change. A first state (version 0) starts a new epoch. A record of a replica's
// own state (a seed: after Redis lost its data or went back in time) says what it knew (origin, based_on);
// an operator's change clears the seed flag, and is never written over by a seed's rules. The new version is above
// both the current one and the floor (the highest this replica applied), so that a number is never used
// twice in an epoch, even over a Redis that went back in time. Returns {1, version, epoch} or {0, version,
// epoch, state, changed_by, origin, based_on, seed}.
constexpr const char* propose_script = R"lua(
local h = KEYS[1]
local v = tonumber(redis.call('HGET', h, 'version') or '0') or 0
if v ~= tonumber(ARGV[1]) then
  return {0, v, redis.call('HGET', h, 'epoch') or '', redis.call('HGET', h, 'state') or '',
          redis.call('HGET', h, 'changed_by') or '', redis.call('HGET', h, 'origin') or '',
          redis.call('HGET', h, 'based_on') or '', redis.call('HGET', h, 'seed') or '0'}
end
if v == 0 then redis.call('HSET', h, 'epoch', ARGV[6]) end
if v == 0 or ARGV[10] == '1' then redis.call('HSET', h, 'origin', ARGV[7], 'based_on', ARGV[8]) end
redis.call('HSET', h, 'seed', ARGV[10])
v = math.max(v, tonumber(ARGV[9]) or 0) + 1
redis.call('HSET', h, 'version', v, 'state', ARGV[2], 'changed_by', ARGV[3], 'changed_at', ARGV[4])
redis.call('PUBLISH', KEYS[2], ARGV[5])
return {1, v, redis.call('HGET', h, 'epoch') or ''}
)lua";

// Deletes a replica process's heartbeat if it is this one's (its "pid" is ARGV[1]).
constexpr const char* farewell_script = R"lua(
local v = redis.call('GET', KEYS[1])
local ok, beat = false, nil
if v then ok, beat = pcall(cjson.decode, v) end
if ok and type(beat) == 'table' and beat.pid == tonumber(ARGV[1]) then
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
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
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

std::string new_epoch() {
  std::random_device entropy;
  std::mt19937_64 generator((static_cast<std::uint64_t>(entropy()) << 32) ^ entropy() ^ unix_ms());
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(generator()));
  return text;
}

}  // namespace

cluster_link::cluster_link(const net_types::executor& ex, conf::cluster_config config,
                           std::vector<std::string> upstreams, hooks h)
    : ex_(ex),
      config_(std::move(config)),
      upstreams_(std::move(upstreams)),
      hooks_(std::move(h)),
      replica_(config_.replica.empty() ? default_replica_name() : config_.replica),
      instance_(replica_ + "/" + std::to_string(::getpid())),
      prefix_("drawbridge:" + config_.name + ":"),
      wake_(ex),
      beat_wake_(ex) {
  options_.url = config_.redis;
  options_.tls_server_name = config_.tls.sni;
  // A Redis that answers slower than this is as good as down for an admin call: at most 2 s, and at
  // most a heartbeat.
  options_.timeout = std::min<milliseconds>(
      milliseconds(2000),
      std::max<milliseconds>(milliseconds(200), std::chrono::duration_cast<milliseconds>(config_.heartbeat)));
}

cluster_link::~cluster_link() = default;

std::chrono::milliseconds cluster_link::heartbeat_ttl() const {
  return 3 * std::chrono::duration_cast<milliseconds>(config_.heartbeat) + options_.timeout;
}

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
  connected_ = false;
  wake_.cancel();
  beat_wake_.cancel();
  if (subscription_) subscription_->close("stopping");
  if (commands_ && commands_->is_open())
    net_types::spawn_logged(ex_, farewell(commands_), "cluster: farewell");
  else if (commands_)
    commands_->close("stopping");  // one being opened
}

// Leaving: the other replicas stop counting this process at once rather than when its heartbeat expires.
// Only its own heartbeat: a binary upgrade's successor has its own key.
task<void> cluster_link::farewell(std::shared_ptr<redis_connection> c) {
  net_types::timer limit(ex_);
  limit.expires_after(milliseconds(500));
  limit.async_wait([c](boost::system::error_code ec) {
    if (!ec) c->close("stopping");
  });
  co_await c->call(command("EVAL", farewell_script, "2", key("replica:" + instance_), key("replicas"),
                           std::to_string(::getpid()), instance_));
  limit.cancel();
  c->close("stopping");
}

void cluster_link::want_fresh_peers(clock::time_point until) {
  fresh_peers_until_ = std::max(fresh_peers_until_, until);
}

void cluster_link::beat_soon() {
  beat_requested_ = true;
  beat_wake_.cancel();
}

task<void> cluster_link::run() {
  auto backoff = first_backoff;
  std::minstd_rand jitter(static_cast<unsigned>(::getpid()));
  while (!stopping_) {
    const auto lasted = co_await session();
    if (stopping_) break;
    if (lasted > 3 * config_.heartbeat) backoff = first_backoff;
    const auto extra = backoff.count() >= 4 ? milliseconds(jitter() % (backoff.count() / 4)) : milliseconds(0);
    wake_.expires_after(backoff + extra);
    co_await wake_.async_wait(use_tuple);
    backoff = std::min<milliseconds>(backoff * 2, max_backoff);
  }
}

void cluster_link::lost(const std::string& why) {
  const bool was = connected_;
  connected_ = false;
  if (commands_) commands_->close(why);
  if (subscription_) subscription_->close(why);
  if (stopping_) return;
  // Said once per outage, and again only when the reason changes.
  if (was || why != last_error_)
    spdlog::error(
        "cluster: Redis at {} is unreachable ({}); serving on with the last shared state, admin changes "
        "refused until it is back",
        conf::to_string(config_.redis), why);
  last_error_ = why;
}

task<clock::duration> cluster_link::session() {
  auto commands = redis_connection::create(ex_, options_);
  commands_ = commands;  // before it opens: stop() closes it
  auto error = co_await commands->open();
  if (stopping_) co_return clock::duration::zero();
  if (!error.empty()) {
    lost(error);
    co_return clock::duration::zero();
  }
  auto sub = redis_connection::create(ex_, options_);
  subscription_ = sub;
  error = co_await sub->open();
  if (stopping_) co_return clock::duration::zero();
  if (!error.empty()) {
    lost(error);
    co_return clock::duration::zero();
  }
  // Subscribed before the state is read: a change recorded in between is announced, not missed.
  const auto subscribed = co_await sub->subscribe(key("changes"));
  if (stopping_) co_return clock::duration::zero();
  if (!subscribed.value || subscribed.value->is_error()) {
    lost("SUBSCRIBE: " + (subscribed.value ? subscribed.value->text : subscribed.error));
    co_return clock::duration::zero();
  }
  auto states = co_await read_upstreams(upstreams_);
  if (stopping_) co_return clock::duration::zero();
  if (!states) {
    lost("reading the shared state: " + commands->error());
    co_return clock::duration::zero();
  }
  if (!last_error_.empty())
    spdlog::info("cluster: Redis at {} is reachable again", conf::to_string(config_.redis));
  else
    spdlog::info("cluster: replica {} joined cluster {} at {}", replica_, config_.name, conf::to_string(config_.redis));
  last_error_.clear();
  connected_ = true;
  loaded_ = true;
  hooks_.connected(*states);
  net_types::spawn_logged(ex_, listen(sub), "cluster: subscription");
  net_types::spawn_logged(ex_, heartbeats(commands), "cluster: heartbeats");

  const auto since = clock::now();
  auto next_check = since + config_.heartbeat;
  auto next_peers = since;
  while (!stopping_ && commands->is_open() && sub->is_open()) {
    const auto now = clock::now();
    if (now >= next_check) {
      // A missed announcement (none is lost on a live connection, but a script may have failed midway)
      // is caught here within one heartbeat.
      next_check = now + config_.heartbeat;
      auto read = co_await read_upstreams(upstreams_);
      if (!read) break;
      for (auto& [name, s] : *read) hooks_.changed(name, std::move(s));
    }
    if (now >= next_peers || (now < fresh_peers_until_ && now - peers_read_at_ >= fresh_peers_interval)) {
      next_peers = now + config_.heartbeat;
      const bool read = co_await refresh_peers();
      if (!read) break;
    }
    wake_.expires_after(tick_interval);
    co_await wake_.async_wait(use_tuple);
  }
  if (!stopping_) {
    const auto& why = !commands->error().empty() ? commands->error() : sub->error();
    lost(why.empty() ? std::string("connection lost") : why);
  }
  co_return clock::now() - since;
}

task<void> cluster_link::heartbeats(std::shared_ptr<redis_connection> c) {
  bool written = true;
  while (written && !stopping_ && c->is_open()) {
    beat_requested_ = false;
    written = co_await write_heartbeat(c);  // when false, the session notices the closed connection
    // At most one heartbeat per tick however often beat_soon() asks.
    beat_wake_.expires_after(tick_interval);
    co_await beat_wake_.async_wait(use_tuple);
    if (!beat_requested_ && !stopping_) {
      beat_wake_.expires_after(config_.heartbeat - tick_interval);
      co_await beat_wake_.async_wait(use_tuple);  // cut short by beat_soon()
    }
  }
}

task<void> cluster_link::listen(std::shared_ptr<redis_connection> sub) {
  while (!stopping_) {
    // Announcements that came together are read together: one round trip for all their upstreams.
    std::set<std::string> changed;
    bool more = true;
    while (more) {
      auto pushed = co_await sub->next_push();
      if (!pushed.value || stopping_) co_return;
      take_announcement(*pushed.value, changed);
      more = sub->queued() > 0;
    }
    if (!changed.empty()) {
      auto read = co_await read_upstreams(std::vector<std::string>(changed.begin(), changed.end()));
      if (!read || stopping_) co_return;
      for (auto& [name, s] : *read) hooks_.changed(name, std::move(s));
    }
  }
}

void cluster_link::take_announcement(const reply& r, std::set<std::string>& changed) {
  // ["message", channel, payload]; PING's answer is ["pong", ""].
  if (r.kind != reply::type::array || r.elements.size() != 3 || r.elements[0].text != "message") return;
  const auto& payload = r.elements[2].text;
  if (!payload.empty() && payload.front() == '{') {
    const auto j = json::parse(payload, nullptr, /*allow_exceptions=*/false);
    const auto t = j.is_object() ? j.find("close_tunnels") : j.end();
    if (t == j.end() || !t->is_object()) {
      if (j.is_object() && hooks_.message) hooks_.message(j);
      return;
    }
    const auto u = t->find("upstream");
    const auto n = t->find("node");
    const auto at = t->find("at_ms");
    if (u != t->end() && u->is_string() && n != t->end() && n->is_string() && at != t->end() && at->is_number_integer())
      hooks_.tunnel_deadline(u->get<std::string>(), n->get<std::string>(),
                             std::chrono::system_clock::time_point(milliseconds(at->get<std::int64_t>())));
    return;
  }
  if (std::find(upstreams_.begin(), upstreams_.end(), payload) != upstreams_.end()) changed.insert(payload);
}

task<std::optional<std::map<std::string, shared_upstream>>> cluster_link::read_upstreams(
    std::vector<std::string> names) {
  auto c = commands_;
  std::vector<std::vector<std::string>> commands;
  commands.reserve(names.size());
  for (const auto& u : names)
    commands.push_back(command("HMGET", key("upstream:" + u), "version", "epoch", "state", "changed_by", "origin",
                               "based_on", "seed"));
  const auto replies = co_await c->call_all(std::move(commands));
  std::map<std::string, shared_upstream> out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto& r = replies[i];
    if (!r.value || r.value->kind != reply::type::array || r.value->elements.size() != 7) {
      if (r.value && c->is_open()) c->close("unexpected reply to HMGET: " + r.value->text);
      co_return std::nullopt;
    }
    out.emplace(names[i], parse_upstream(names[i], *r.value));
  }
  co_return out;
}

shared_upstream cluster_link::parse_upstream(const std::string& name, const reply& r) {
  const auto& e = r.elements;
  shared_upstream s;
  if (e[0].is_nil()) return s;  // nothing recorded yet
  const auto version = to_version(e[0].text);
  std::string error;
  auto state = upstream::upstream_from_json(e[2].text, error);
  if (!version || !state || state->name != name) {
    // Not what any replica writes: left alone (an operator's mistake, or another program's key). Logged
    // once per content, not at every read.
    if (bad_states_[name] != e[0].text + e[2].text) {
      bad_states_[name] = e[0].text + e[2].text;
      spdlog::error("cluster: {} in Redis is not a drawbridge upstream state ({}); ignored", key("upstream:" + name),
                    !version ? "bad version"
                    : !state ? error
                             : "another upstream's name");
    }
    return s;
  }
  bad_states_.erase(name);
  s.version = *version;
  s.epoch = e[1].text;
  s.state = std::move(state);
  s.changed_by = e[3].text;
  s.origin = e[4].text;
  s.based_on = e[5].text;
  s.seed = e[6].text == "1";
  return s;
}

task<proposal_result> cluster_link::propose(std::string upstream, std::uint64_t expected, upstream::saved_upstream next,
                                            proposal_context context) {
  proposal_result out;
  if (!connected_ || !commands_ || !commands_->is_open()) {
    out.error = last_error_.empty() ? "not connected" : last_error_;
    co_return out;
  }
  auto c = commands_;
  out.sent = true;
  const auto r = co_await c->call(command(
      "EVAL", propose_script, "2", key("upstream:" + upstream), key("changes"), std::to_string(expected),
      upstream::upstream_to_json(next), replica_, std::to_string(unix_ms()), upstream, new_epoch(),
      std::move(context.origin), std::move(context.based_on), std::to_string(context.floor), context.seed ? "1" : "0"));
  if (!r.value || r.value->is_error() || r.value->kind != reply::type::array || r.value->elements.empty()) {
    out.error = r.value ? (r.value->is_error() ? r.value->text : "unexpected reply to the script") : r.error;
    // A Redis error reply means the script did not run to its end: nothing was recorded.
    out.sent = !r.value;
    co_return out;
  }
  const auto& e = r.value->elements;
  if (e[0].integer == 1 && e.size() == 3) {
    out.result = proposal_result::outcome::committed;
    out.version = static_cast<std::uint64_t>(e[1].integer);
    out.epoch = e[2].text;
    co_return out;
  }
  if (e.size() != 8) {
    out.error = "unexpected reply to the script";
    co_return out;
  }
  out.result = proposal_result::outcome::conflict;
  out.current.version = static_cast<std::uint64_t>(e[1].integer);
  out.current.epoch = e[2].text;
  std::string error;
  if (!e[3].text.empty()) out.current.state = upstream::upstream_from_json(e[3].text, error);
  out.current.changed_by = e[4].text;
  out.current.origin = e[5].text;
  out.current.based_on = e[6].text;
  out.current.seed = e[7].text == "1";
  co_return out;
}

task<std::optional<reply>> cluster_link::call(std::vector<std::string> args) {
  if (!connected_ || !commands_) co_return std::nullopt;
  const auto connection = commands_;  // held: a reconnection may replace commands_ meanwhile
  auto result = co_await connection->call(std::move(args));
  if (!result.value) co_return std::nullopt;
  co_return std::move(*result.value);
}

task<std::optional<shared_upstream>> cluster_link::read(std::string upstream) {
  if (!connected_ || !commands_) co_return std::nullopt;
  std::vector<std::string> names;
  names.push_back(upstream);
  auto all = co_await read_upstreams(std::move(names));
  if (!all) co_return std::nullopt;
  co_return std::move(all->begin()->second);
}

void cluster_link::announce_tunnel_deadline(const std::string& upstream, const std::string& node,
                                            std::chrono::system_clock::time_point at) {
  if (!connected_ || !commands_) return;
  const json message{{"close_tunnels",
                      {{"upstream", upstream},
                       {"node", node},
                       {"at_ms", std::chrono::duration_cast<milliseconds>(at.time_since_epoch()).count()}}}};
  net_types::spawn_logged(
      ex_,
      [](std::shared_ptr<redis_connection> c, std::string channel, std::string text) -> task<void> {
        co_await c->call(command("PUBLISH", std::move(channel), std::move(text)));
      }(commands_, key("changes"), message.dump()),
      "cluster: tunnel deadline");
}

void cluster_link::announce(const json& message) {
  if (!connected_ || !commands_) return;
  net_types::spawn_logged(
      ex_,
      [](std::shared_ptr<redis_connection> c, std::string channel, std::string text) -> task<void> {
        co_await c->call(command("PUBLISH", std::move(channel), std::move(text)));
      }(commands_, key("changes"), message.dump()),
      "cluster: announcement");
}

task<bool> cluster_link::write_heartbeat(std::shared_ptr<redis_connection> c) {
  auto body = hooks_.heartbeat();
  body.replica = replica_;
  body.at_ms = unix_ms();
  body.ttl_ms = heartbeat_ttl().count();
  std::vector<std::vector<std::string>> commands;
  commands.push_back(command("SET", key("replica:" + instance_), heartbeat_json(body).dump(), "PX",
                             std::to_string(heartbeat_ttl().count())));
  commands.push_back(command("SADD", key("replicas"), instance_));
  const auto replies = co_await c->call_all(std::move(commands));
  for (const auto& r : replies)
    if (!r.value || r.value->is_error()) {
      if (r.value && c->is_open()) c->close("heartbeat: " + r.value->text);
      co_return false;
    }
  co_return true;
}

task<std::optional<std::vector<replica_report>>> cluster_link::replicas() {
  if (!connected_ || !commands_) co_return std::nullopt;
  const auto asked_at = clock::now();
  auto c = commands_;
  const auto members = co_await c->call(command("SMEMBERS", key("replicas")));
  if (!members.value || members.value->kind != reply::type::array) co_return std::nullopt;
  std::vector<std::vector<std::string>> reads;
  reads.reserve(2 * members.value->elements.size());
  for (const auto& m : members.value->elements) {
    reads.push_back(command("GET", key("replica:" + m.text)));
    reads.push_back(command("PTTL", key("replica:" + m.text)));
  }
  const auto replies = co_await c->call_all(std::move(reads));
  std::vector<std::vector<std::string>> expired;
  auto out = parse_replicas(members.value->elements, replies, expired);
  if (!out) co_return std::nullopt;
  adopt_peers_if_newer(*out, asked_at);
  if (!expired.empty()) co_await c->call_all(std::move(expired));
  co_return out;
}

// Whatever asked (the periodic refresh, or an operator's GET), the newest read is the peers' view from
// then on: the budget is never decided on an older one than the operator was shown.
void cluster_link::adopt_peers_if_newer(const std::vector<replica_report>& all, clock::time_point asked_at) {
  if (asked_at < peers_read_at_) return;
  peers_.clear();
  std::copy_if(all.begin(), all.end(), std::back_inserter(peers_), [this](const auto& r) { return r.id != instance_; });
  peers_read_at_ = asked_at;
}

// Plain code out of the coroutine: GCC 12 miscompiled a loop with `continue` between two co_awaits.
std::optional<std::vector<replica_report>> cluster_link::parse_replicas(
    const std::vector<reply>& members, const std::vector<call_result>& replies,
    std::vector<std::vector<std::string>>& expired) {
  std::vector<replica_report> out;
  for (std::size_t i = 0; i < members.size(); ++i) {
    const auto& id = members[i].text;
    const auto& got = replies[2 * i];
    const auto& left = replies[2 * i + 1];
    if (!got.value || !left.value) return std::nullopt;
    if (got.value->is_nil()) {
      expired.push_back(command("SREM", key("replicas"), id));  // its heartbeat expired: it no longer counts
      continue;
    }
    replica_report report;
    report.id = id;
    auto parsed = parse_heartbeat(got.value->text);
    if (!parsed) continue;
    report.heartbeat = std::move(*parsed);
    report.replica = report.heartbeat.replica.empty() ? id : report.heartbeat.replica;
    const auto lifetime = report.heartbeat.ttl_ms > 0 ? report.heartbeat.ttl_ms : heartbeat_ttl().count();
    report.age = milliseconds(std::max<std::int64_t>(0, lifetime - left.value->integer));
    out.push_back(std::move(report));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

task<bool> cluster_link::refresh_peers() {
  const auto all = co_await replicas();  // keeps peers_
  co_return all.has_value();
}

}  // namespace drawbridge::cluster
