// control_plane::upgrade: the binary now on disk started with this process's sockets, and this process
// on its way out once that one serves (process/upgrade_handover.hpp has the handover itself).

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "admin/control_plane.hpp"
#include "process/upgrade_handover.hpp"

namespace drawbridge::admin {

namespace {

constexpr std::size_t max_kept_output = 64 * 1024;  // the tail of what a failed successor printed
constexpr std::chrono::milliseconds poll_interval{50};
// How long a successor that closed its ready pipe has to show up as exited.
constexpr std::chrono::seconds exit_after_close{2};
// A successor given up is asked to stop (it may have accepted connections already), and has its
// shutdown_grace and this much more before it is killed.
constexpr std::chrono::seconds successor_stop_margin{5};

// Reads what is there now from a non-blocking descriptor. False at end of file or on an error.
bool read_available(int fd, std::string& into) {
  char chunk[4096];
  for (;;) {
    const auto n = ::read(fd, chunk, sizeof chunk);
    if (n > 0) {
      into.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "it exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("it was killed by signal ") + ::strsignal(WTERMSIG(status));
  return "it ended";
}

}  // namespace

nlohmann::json control_plane::health_verdicts() const {
  auto out = nlohmann::json::object();
  for (const auto& g : runtime_->upstreams)
    for (const auto& n : *g->nodes())
      out[g->name()][n->name()] = {{"health", upstream::to_string(n->health.load())}, {"address", n->address()}};
  return out;
}

void control_plane::adopt_health(const nlohmann::json& verdicts) {
  if (!verdicts.is_object()) return;
  for (const auto& g : runtime_->upstreams) {
    // Without checks nothing would ever change an adopted verdict: such nodes are healthy, as at start-up.
    if (!g->config().health_check.enabled) continue;
    const auto of_group = verdicts.find(g->name());
    if (of_group == verdicts.end() || !of_group->is_object()) continue;
    for (const auto& n : *g->nodes()) {
      const auto verdict = of_group->find(n->name());
      // The same server only: a node whose address changed is new to this process.
      if (verdict == of_group->end() || !verdict->is_object() || verdict->value("address", "") != n->address())
        continue;
      const auto said = verdict->value("health", "");
      for (const auto h :
           {upstream::health_state::healthy, upstream::health_state::unhealthy, upstream::health_state::unknown})
        if (said == upstream::to_string(h) && n->health.load() != h) {
          n->record_health(h);
          spdlog::info("node {} of upstream {}: {} as the old process had it, until its first check", n->name(),
                       g->name(), said);
        }
    }
  }
}

void control_plane::await_confirmation(owned_fd confirm) {
  ::fcntl(confirm.get(), F_SETFL, O_NONBLOCK);
  confirmation_ = std::move(confirm);
  upgrading_ = true;
  saves_held_ = true;
}

void control_plane::check_confirmation() {
  std::string said;
  if (read_available(confirmation_.get(), said) && said.find('\n') == std::string::npos) return;  // not yet
  const bool confirmed = said.starts_with("go");
  confirmation_.reset();
  upgrading_ = false;
  saves_held_ = false;
  spdlog::info("binary upgrade: {}; this process takes changes",
               confirmed ? "the old process handed over the service" : "the old process is gone");
}

void control_plane::shutting_down() { shutting_down_ = true; }

net_types::task<upgrade_result> control_plane::upgrade() {
  upgrade_result result;
  auto refuse = [&](unsigned status, std::string error) {
    result.status = status;
    result.error = std::move(error);
    spdlog::error("binary upgrade: {}", result.error);
    return result;
  };
  if (!upgrade_hooks_) co_return refuse(503, "this process cannot upgrade itself (it was not started by `serve`)");
  if (stopping_ || shutting_down_) co_return refuse(503, "this process is stopping");
  if (upgrading()) co_return refuse(409, "an upgrade is in progress already");
  upgrading_ = true;  // changes are refused from here on (admin_api, reload)
  // Every way out but the handover gives changes (and the state file) back to this process.
  struct give_back {
    control_plane& c;
    bool handed = false;
    ~give_back() {
      if (handed) return;
      c.upgrading_ = false;
      c.saves_held_ = false;
    }
  } guard{*this};

  // The successor reads the state file: it must hold every change made here.
  if (auto refused = co_await persisted("the state before the upgrade"))
    co_return refuse(500, refused->message + "; not upgrading, the new process would not have it");
  saves_held_ = true;

  process::handover h;
  process::successor child;
  try {
    for (auto& [address, fds] : upgrade_hooks_->listening_sockets()) h.listeners.push_back({address, std::move(fds)});
    if (server_) {
      h.admin = server_->duplicate_listener();
      h.admin_address = conf::to_string(runtime_->config.admin.address);
    }
  } catch (const std::exception& e) {  // out of descriptors, say
    co_return refuse(500, std::string("cannot hand the sockets over: ") + e.what() + "; this process goes on serving");
  }
  if (h.listeners.empty() && !runtime_->config.listeners.empty())
    co_return refuse(503, "this process is stopping");  // its listeners are closed
  h.health = health_verdicts();
  spdlog::info("binary upgrade: starting {} with {} listener(s){}", upgrade_hooks_->executable, h.listeners.size(),
               h.admin ? " and the admin socket" : "");
  child = process::start_successor(upgrade_hooks_->executable, upgrade_hooks_->args, h);
  h = {};  // this process's copies of the sockets
  auto give_up = [&](std::string why, const std::string& output) {
    result.output = output;
    if (upgrade_hooks_->taken_back) upgrade_hooks_->taken_back();
    return refuse(500, std::move(why) + "; this process goes on serving");
  };
  if (!child.error.empty()) co_return give_up(child.error, {});
  ::fcntl(child.ready.get(), F_SETFL, O_NONBLOCK);
  ::fcntl(child.output.get(), F_SETFL, O_NONBLOCK);

  // Until it is ready, what the new process prints comes here: passed on to this process's stderr (the
  // journal) and its tail kept for the answer should it fail.
  std::string output;
  auto pass_on_output = [&] {
    if (!child.output) return;
    std::string fresh;
    if (!read_available(child.output.get(), fresh)) child.output.reset();
    if (fresh.empty()) return;
    (void)!::write(STDERR_FILENO, fresh.data(), fresh.size());
    output += fresh;
    if (output.size() > max_kept_output) output.erase(0, output.size() - max_kept_output);
  };
  std::string ready_line;
  std::optional<std::chrono::steady_clock::time_point> ready_closed_by;
  std::optional<std::string> failure;
  int status = 0;
  bool reaped = false;
  const auto deadline = std::chrono::steady_clock::now() + process::upgrade_ready_timeout;
  net_types::timer pause(io_.get_executor());
  auto exited = [&] {
    if (!reaped && ::waitpid(child.pid, &status, WNOHANG) == child.pid) reaped = true;
    return reaped;
  };
  for (;;) {
    pass_on_output();
    const bool open = read_available(child.ready.get(), ready_line);
    if (stopping_ || shutting_down_) {
      failure = "this process was asked to stop during the upgrade";
      break;
    }
    if (ready_line.find('\n') != std::string::npos) {
      if (!exited()) break;  // ready, and still there
      failure = "the new process reported ready, then ended: " + describe_exit(status);
      break;
    }
    if (exited()) {
      failure = "the new process did not become ready: " + describe_exit(status);
      break;
    }
    if (!open) {
      // A process that exits closes the pipe a moment before it can be reaped: wait for that moment, so
      // that the answer says how it ended.
      if (!ready_closed_by) {
        ready_closed_by = std::chrono::steady_clock::now() + exit_after_close;
      } else if (std::chrono::steady_clock::now() >= *ready_closed_by) {
        failure = "the new process closed its ready report without reporting ready";
        break;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      failure = "the new process was not ready within " + std::to_string(process::upgrade_ready_timeout.count()) + " s";
      break;
    }
    pause.expires_after(poll_interval);
    co_await pause.async_wait(net_types::use_tuple);
  }
  if (failure) {
    // It may have accepted connections already: asked to stop first, it finishes them (killed only if it
    // does not end within a few seconds).
    if (!exited()) {
      ::kill(child.pid, SIGTERM);
      const auto limit =
          std::chrono::steady_clock::now() + runtime_->config.timeouts.shutdown_grace + successor_stop_margin;
      while (!exited() && std::chrono::steady_clock::now() < limit) {
        pass_on_output();
        pause.expires_after(poll_interval);
        co_await pause.async_wait(net_types::use_tuple);
      }
      if (!exited()) {
        ::kill(child.pid, SIGKILL);
        ::waitpid(child.pid, &status, 0);
      }
    }
    pass_on_output();  // its last words
    co_return give_up(*failure, output);
  }
  pass_on_output();  // what it printed before it took the old stderr

  // It serves: it takes changes from now on (told on the confirmation pipe), new connections are its own,
  // and so is the state file. (SIGPIPE is ignored in `serve`: a successor gone since is an EPIPE here.)
  if (::write(child.confirm.get(), "go\n", 3) != 3) {
    ::kill(child.pid, SIGKILL);
    ::waitpid(child.pid, &status, 0);
    co_return give_up("the new process went away as it was given the service", output);
  }
  guard.handed = true;
  result.pid = child.pid;
  // "ready <pid> <version>"
  if (const auto space = ready_line.rfind(' '); space != std::string::npos)
    result.version = ready_line.substr(space + 1, ready_line.find('\n') - space - 1);
  if (server_) server_->stop_accepting();
  spdlog::info(
      "binary upgrade: process {} (version {}) serves; this one ({}) stops accepting and finishes its "
      "requests",
      static_cast<long>(child.pid), result.version, static_cast<long>(::getpid()));
  upgrade_hooks_->handed_over(child.pid);
  co_return result;
}

}  // namespace drawbridge::admin
