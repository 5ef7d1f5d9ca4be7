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
    for (const auto& n : *g->nodes()) out[g->name()][n->name()] = upstream::to_string(n->health.load());
  return out;
}

void control_plane::adopt_health(const nlohmann::json& verdicts) {
  if (!verdicts.is_object()) return;
  for (const auto& g : runtime_->upstreams) {
    const auto of_group = verdicts.find(g->name());
    if (of_group == verdicts.end() || !of_group->is_object()) continue;
    for (const auto& n : *g->nodes()) {
      const auto verdict = of_group->find(n->name());
      if (verdict == of_group->end() || !verdict->is_string()) continue;
      for (const auto h : {upstream::health_state::healthy, upstream::health_state::unhealthy,
                           upstream::health_state::unknown})
        if (*verdict == upstream::to_string(h) && n->health.load() != h) {
          n->record_health(h);
          spdlog::info("node {} of upstream {}: {} as the old process had it, until its first check", n->name(),
                       g->name(), upstream::to_string(h));
        }
    }
  }
}

net_types::task<upgrade_result> control_plane::upgrade() {
  upgrade_result result;
  auto refuse = [&](unsigned status, std::string error) {
    result.status = status;
    result.error = std::move(error);
    spdlog::error("binary upgrade: {}", result.error);
    return result;
  };
  if (!upgrade_hooks_) co_return refuse(503, "this process cannot upgrade itself (it was not started by `serve`)");
  if (stopping_) co_return refuse(503, "this process is stopping");
  if (upgrading_) co_return refuse(409, "an upgrade is in progress already");
  upgrading_ = true;  // changes are refused from here on (admin_api, reload)

  // The successor reads the state file: it must hold every change made here.
  if (auto refused = co_await persisted("the state before the upgrade")) {
    upgrading_ = false;
    co_return refuse(500, refused->message + "; not upgrading, the new process would not have it");
  }
  saves_held_ = true;

  process::handover h;
  for (auto& [address, fds] : upgrade_hooks_->listening_sockets()) h.listeners.push_back({address, std::move(fds)});
  if (server_) h.admin = server_->duplicate_listener();
  h.health = health_verdicts();
  spdlog::info("binary upgrade: starting {} with {} listener(s){}", upgrade_hooks_->executable, h.listeners.size(),
               h.admin ? " and the admin socket" : "");
  auto child = process::start_successor(upgrade_hooks_->executable, upgrade_hooks_->args, h);
  h = {};  // this process's copies of the sockets
  auto give_up = [&](std::string why, const std::string& output) {
    saves_held_ = false;
    upgrading_ = false;
    result.output = output;
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
  std::optional<std::string> failure;
  int status = 0;
  bool reaped = false;
  const auto deadline = std::chrono::steady_clock::now() + process::upgrade_ready_timeout;
  net_types::timer pause(io_.get_executor());
  for (;;) {
    pass_on_output();
    const bool open = read_available(child.ready.get(), ready_line);
    if (ready_line.find('\n') != std::string::npos) break;
    if (::waitpid(child.pid, &status, WNOHANG) == child.pid) {
      reaped = true;
      failure = "the new process did not become ready: " + describe_exit(status);
      break;
    }
    if (!open) {
      failure = "the new process closed its ready report without reporting ready";
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      failure = "the new process was not ready within " + std::to_string(process::upgrade_ready_timeout.count()) + " s";
      break;
    }
    if (stopping_) {
      failure = "this process was asked to stop during the upgrade";
      break;
    }
    pause.expires_after(poll_interval);
    co_await pause.async_wait(net_types::use_tuple);
  }
  if (failure) {
    if (!reaped) {
      ::kill(child.pid, SIGKILL);
      ::waitpid(child.pid, &status, 0);
    }
    pass_on_output();  // its last words
    co_return give_up(*failure, output);
  }

  // It serves: new connections are its own from now on, and so is the state file.
  result.pid = child.pid;
  if (server_) server_->stop_accepting();
  spdlog::info("binary upgrade: process {} serves; this one ({}) stops accepting and finishes its requests",
               static_cast<long>(child.pid), static_cast<long>(::getpid()));
  upgrade_hooks_->handed_over(child.pid);
  co_return result;
}

}  // namespace drawbridge::admin
