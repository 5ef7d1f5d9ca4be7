#include "upstream/health_checker.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include "net/spawn_logged.hpp"

#include "upstream/connection_pool.hpp"
#include "upstream/upstream_tls.hpp"

namespace drawbridge::upstream {

namespace net = boost::asio;
namespace http = boost::beast::http;
using net_types::task;
using net_types::use_tuple;

namespace {
// A health answer is small; a node that sends more is not one we want to buffer.
constexpr std::size_t max_probe_body = 64 * 1024;

std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

struct health_checker::watched {
  watched(net::io_context& io, std::shared_ptr<upstream_group> g, std::shared_ptr<node> node_ptr)
      : group(std::move(g)),
        n(std::move(node_ptr)),
        interval_timer(io.get_executor()),
        timeout_timer(io.get_executor()) {}

  std::shared_ptr<upstream_group> group;
  std::shared_ptr<node> n;
  health_counter counter;
  std::optional<probe_record> last;
  net_types::timer interval_timer;
  net_types::timer timeout_timer;
  std::unique_ptr<upstream_connection> connection;  // kept between probes when the node allows it
  std::uint64_t epoch = 0;                          // bumped by reset(): a probe that started before it does not count
  std::uint64_t probes = 0;  // numbers each probe, so that a late timeout cannot hit the next one
  bool at_start_up = true;   // no slow-start ramp for the first verdict of a freshly started proxy
  bool wake = false;         // probe again without waiting for the interval
  bool timed_out = false;
  bool done = false;

  const conf::health_check_config& config() const { return group->config().health_check; }
  void close() {
    if (!connection) return;
    boost::system::error_code ignored;
    connection->socket.close(ignored);
    connection.reset();
  }
};

health_checker::health_checker(net::io_context& io, std::vector<std::shared_ptr<upstream_group>> groups)
    : io_(io), groups_(std::move(groups)) {}

health_checker::~health_checker() { stop(); }

void health_checker::start() {
  const auto now = steady_now_ms();
  for (const auto& group : groups_) {
    if (!group->config().health_check.enabled) continue;
    for (const auto& n : *group->nodes()) {
      auto w = std::make_shared<watched>(io_, group, n);
      w->counter.reset(now + group->config().health_check.start_period.count(), /*first_probe_decides=*/true);
      watched_[n.get()] = w;
      spawn_probe_loop(w);
    }
  }
}

void health_checker::stop() {
  stopped_ = true;
  for (auto& [_, w] : watched_) end(*w);
}

void health_checker::end(watched& w) {
  w.done = true;
  w.interval_timer.cancel();
  w.timeout_timer.cancel();
  // Only closed, not freed: a probe may have an operation in progress on it, which now completes with
  // an error; the probe's coroutine frees the connection when it sees `done`.
  if (w.connection) {
    boost::system::error_code ignored;
    w.connection->socket.close(ignored);
  }
}

void health_checker::adopt(std::vector<std::shared_ptr<upstream_group>> groups) {
  groups_ = std::move(groups);
  const auto now = steady_now_ms();
  std::map<const node*, std::shared_ptr<watched>> next;
  std::vector<std::shared_ptr<watched>> started;
  for (const auto& group : groups_) {
    const auto& config = group->config().health_check;
    for (const auto& n : *group->nodes()) {
      if (!config.enabled) {
        // Checks turned off: nothing will ever change a verdict again, so the node is taken as healthy.
        if (n->health.load() != health_state::healthy) n->record_health(health_state::healthy, now);
        continue;
      }
      const auto it = watched_.find(n.get());
      if (it != watched_.end() && it->second->group == group) {
        next[n.get()] = it->second;  // the same upstream object: nothing changed for this loop
        continue;
      }
      // A new loop under the new upstream's settings. A node checked before keeps its verdict and its run
      // of passes and failures; a node new to checks needs healthy_threshold passes to change its verdict.
      auto w = std::make_shared<watched>(io_, group, n);
      if (it != watched_.end()) {
        w->counter = it->second->counter;
        w->last = it->second->last;
        w->at_start_up = it->second->at_start_up;
      } else {
        // As at start-up, the first probe decides: a configured node the reload brought in takes requests
        // once one check passed, instead of healthy_threshold intervals later (its upstream may have no
        // other node: a new upstream, or every address moved).
        w->at_start_up = false;  // but with slow start, as any node that comes into rotation
        w->counter.reset(now + config.start_period.count(), /*first_probe_decides=*/true);
      }
      next[n.get()] = w;
      started.push_back(w);
    }
  }
  // Loops that were not carried over end (their node left, or its upstream changed or stopped checking).
  for (auto& [n, w] : watched_) {
    const auto it = next.find(n);
    if (it == next.end() || it->second != w) end(*w);
  }
  watched_ = std::move(next);
  if (stopped_) return;
  for (const auto& w : started) spawn_probe_loop(w);
}

void health_checker::watch(const std::shared_ptr<upstream_group>& group, const std::shared_ptr<node>& n) {
  const auto& config = group->config().health_check;
  n->mark_activated();  // an added node: its version is what new visitors get once it is active
  if (!config.enabled || stopped_) {
    n->record_health(health_state::healthy, steady_now_ms());
    return;
  }
  n->record_health(health_state::unknown);
  auto w = std::make_shared<watched>(io_, group, n);
  w->at_start_up = false;
  w->counter.reset(steady_now_ms() + config.start_period.count(), /*first_probe_decides=*/false);
  watched_[n.get()] = w;
  spawn_probe_loop(w);
}

// A probe loop that an exception escapes (a bug) is logged and started again after one interval (not at
// once: an exception that repeats must not become a connect storm), so that a node never silently stops
// being checked.
void health_checker::spawn_probe_loop(const std::shared_ptr<watched>& w) {
  net_types::spawn_logged(io_.get_executor(), probe_loop(w), "health check of node " + w->n->name(), [this, w] {
    if (stopped_ || w->done) return;
    w->interval_timer.expires_after(w->group->config().health_check.interval);
    w->interval_timer.async_wait([this, w](boost::system::error_code ec) {
      if (!ec && !stopped_ && !w->done) spawn_probe_loop(w);
    });
  });
}

void health_checker::reset(upstream_group& group, node& n) {
  const auto now = steady_now_ms();
  const auto it = watched_.find(&n);
  n.clear_failures();  // a fresh start for passive ejection too
  n.forget_version();  // the checks that make it healthy again tell its version (an upgrade changed it)
  if (!group.config().health_check.enabled || it == watched_.end()) {
    n.record_health(health_state::healthy, now);
    return;
  }
  auto& w = *it->second;
  n.record_health(health_state::unknown);
  ++w.epoch;
  w.at_start_up = false;
  w.counter.reset(now + w.config().start_period.count(), /*first_probe_decides=*/false);
  w.last.reset();
  w.wake = true;
  w.interval_timer.cancel();
}

std::optional<probe_record> health_checker::last_probe(const node& n) const {
  const auto it = watched_.find(&n);
  if (it == watched_.end()) return std::nullopt;
  return it->second->last;
}

task<void> health_checker::probe_loop(std::shared_ptr<watched> w) {
  auto finished = [&] { return stopped_ || w->done || w->n->removed.load(std::memory_order_relaxed); };
  while (!finished()) {
    co_await probe(w);
    if (finished()) break;
    if (!w->wake) {
      w->interval_timer.expires_after(w->config().interval);
      co_await w->interval_timer.async_wait(use_tuple);
    }
    w->wake = false;
  }
  w->close();
  const auto it = watched_.find(w->n.get());
  if (it != watched_.end() && it->second == w) watched_.erase(it);
}

task<void> health_checker::probe(std::shared_ptr<watched> self) {
  auto& w = *self;
  const auto epoch = w.epoch;
  const auto started = std::chrono::steady_clock::now();
  probe_answer answer;
  std::string error = co_await exchange(self, w.config().path, answer);
  if (error.empty()) error = judge_probe_answer(w.config(), answer.status, answer.body);
  const auto latency = std::chrono::steady_clock::now() - started;
  // Version affinity: the version comes with the answers that make a node healthy, so a node restarted on
  // another build is known by its new version before it takes a request.
  std::string version = std::move(answer.version);
  const auto& affinity = w.group->config().version_affinity;
  if (error.empty() && affinity.enabled && !affinity.learn_path.empty() && epoch == w.epoch && !w.done) {
    probe_answer info;
    auto why = co_await exchange(self, affinity.learn_path, info);
    std::string learned;
    if (why.empty()) learned = version_in_answer(info.status, info.body, affinity.learn_pointer, why);
    if (!learned.empty())
      version = std::move(learned);
    else
      spdlog::debug("node {} of upstream {}: no version from {}: {}", w.n->name(), w.group->name(), affinity.learn_path,
                    why);
  }
  if (epoch != w.epoch || w.done) co_return;  // reset (undrain) meanwhile: this answer is stale
  if (affinity.enabled) w.n->learn_version(version);
  probe_record record;
  record.ok = error.empty();
  record.status = answer.status;
  record.latency_ms = std::chrono::duration<double, std::milli>(latency).count();
  record.error = error;
  record.at_unix_ms = unix_now_ms();
  w.last = std::move(record);
  apply(w, error.empty(), error);
}

// One request and its answer, all within the check's timeout. Returns why it failed, empty on an answer.
task<std::string> health_checker::exchange(std::shared_ptr<watched> self, std::string path, probe_answer& answer) {
  auto& w = *self;
  const auto& config = w.config();
  const auto& n = *w.n;
  // The timer closes the connection when the timeout passes, which ends whatever step is pending.
  w.timed_out = false;
  const auto probe_number = ++w.probes;
  w.timeout_timer.expires_after(config.timeout);
  w.timeout_timer.async_wait([self, probe_number](boost::system::error_code ec) {
    if (ec || self->probes != probe_number) return;
    self->timed_out = true;
    if (self->connection) {
      boost::system::error_code ignored;
      self->connection->socket.close(ignored);
    }
  });
  struct disarm {
    net_types::timer& t;
    ~disarm() { t.cancel(); }
  } disarm_timer{w.timeout_timer};

  // The Host a TLS node expects matches the name we ask it for; otherwise the node's address.
  const auto& sni = w.group->config().tls.sni;
  const std::string host = w.group->tls_context() && !sni.empty() ? sni : n.address();
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + host +
                              "\r\nUser-Agent: drawbridge-health-check\r\nAccept: application/json, */*\r\n\r\n";
  // Why a step of setting up the connection ends the probe, if it does.
  auto setup_failure = [&](const char* step, boost::system::error_code ec) -> std::optional<std::string> {
    if (w.done) return "stopped";
    if (w.timed_out) return "timed out after " + conf::format_duration(config.timeout) + " (" + step + ")";
    if (ec) return std::string(step) + ": " + ec.message();
    return std::nullopt;
  };
  // A kept connection the node may have closed meanwhile gets one retry on a fresh one.
  for (int round = 0; round < 2; ++round) {
    const bool reused = w.connection && still_open(*w.connection);
    if (!reused) {
      w.close();
      w.connection = std::make_unique<upstream_connection>(io_.get_executor());
      boost::system::error_code ec = net::error::host_not_found;
      for (const auto& endpoint : n.endpoints()) {
        if (w.timed_out || w.done) break;
        boost::system::error_code ignored;
        w.connection->socket.close(ignored);
        std::tie(ec) = co_await w.connection->socket.async_connect(endpoint, use_tuple);
        if (!ec) break;
      }
      if (auto why = setup_failure("connect", ec)) {
        w.close();
        co_return *why;
      }
      if (auto* context = w.group->tls_context()) {
        ec = co_await start_tls(*w.connection, *context, w.group->tls_server_name(n));
        if (auto why = setup_failure("TLS handshake", ec)) {
          w.close();
          co_return *why;
        }
      }
    }
    auto [wec, written] = co_await with_stream(
        *w.connection, [&](auto& stream) { return net::async_write(stream, net::buffer(request), use_tuple); });
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_probe_body);
    boost::system::error_code rec = wec;
    if (!wec && !w.done)
      std::tie(rec, std::ignore) = co_await with_stream(*w.connection, [&](auto& stream) {
        return http::async_read(stream, w.connection->buffer, parser, use_tuple);
      });
    if (w.done) {
      w.close();
      co_return "stopped";
    }
    if (w.timed_out) {
      w.close();
      co_return "timed out after " + conf::format_duration(config.timeout);
    }
    if (rec) {
      const bool nothing = !parser.got_some();
      w.close();
      if (reused && nothing) continue;
      co_return "response: " + rec.message();
    }
    answer.status = parser.get().result_int();
    answer.body = std::move(parser.get().body());
    if (const auto& affinity = w.group->config().version_affinity; affinity.enabled)
      answer.version = parser.get()[affinity.header];
    if (!parser.keep_alive() || w.connection->buffer.size() != 0) w.close();
    co_return std::string();
  }
  co_return "connection closed before a response";
}

void health_checker::apply(watched& w, bool passed, const std::string& why) {
  auto& n = *w.n;
  const auto now = steady_now_ms();
  const auto current = n.health.load(std::memory_order_relaxed);
  const auto next = w.counter.record(passed, current, now, w.config());
  (passed ? n.health_checks_passed : n.health_checks_failed).add();
  if (!passed) spdlog::debug("health check of node {} ({}) failed: {}", n.name(), w.group->name(), why);
  const bool first_verdict = w.at_start_up;
  if (next != current) w.at_start_up = false;
  if (next == current) return;
  n.record_health(next, next == health_state::healthy && !first_verdict ? std::optional(now) : std::nullopt);
  // A node that recovered (its checks failed, then passed healthy_threshold times) has earned its way
  // back: passive ejection, which saw the same outage from the traffic, ends too.
  if (next == health_state::healthy) w.group->end_ejection(n, now);
  if (next == health_state::healthy)
    spdlog::info("node {} of upstream {} is healthy", n.name(), w.group->name());
  else
    spdlog::warn("node {} of upstream {} is {}: {}", n.name(), w.group->name(), to_string(next), why);
}

}  // namespace drawbridge::upstream
