// The composition root: command line, config, logs, the data plane, signals.

#include <sys/resource.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <filesystem>
#include <functional>
#include <iostream>
#include <thread>

#include "admin/admin_client.hpp"
#include "admin/cli.hpp"
#include "admin/control_plane.hpp"
#include "conf/config_loader.hpp"
#include "net/spawn_logged.hpp"
#include "process/pid_file.hpp"
#include "process/service_notify.hpp"
#include "process/upgrade_handover.hpp"
#include "proxy/access_log.hpp"
#include "proxy/runtime.hpp"
#include "proxy/server.hpp"

namespace {

constexpr int exit_config_error = 2;
constexpr int exit_start_error = 1;

int report(const std::vector<std::string>& errors) {
  for (const auto& e : errors) std::cerr << e << '\n';
  return exit_config_error;
}

// A proxy holds two descriptors per proxied request: take what the hard limit allows.
void raise_open_files_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int check(const std::string& path) {
  const auto loaded = drawbridge::conf::load_config_file(path);
  if (!loaded.ok()) return report(loaded.errors);
  std::cout << path << ": ok (" << loaded.value.upstreams.size() << " upstream(s), " << loaded.value.routes.size()
            << " route(s), " << loaded.value.listeners.size() << " listener(s))\n";
  return 0;
}

// Tells the service manager (systemd, Type=notify), when there is one; a failure is logged, not fatal.
void tell_service_manager(const std::string& state) {
  if (const auto problem = drawbridge::process::notify_service_manager(state); !problem.empty())
    spdlog::warn("{}", problem);
}

// USR2: the binary upgrade, its outcome logged (POST /v1/upgrade answers it instead).
drawbridge::net_types::task<void> upgrade_on_signal(drawbridge::admin::control_plane& control) {
  const auto result = co_await control.upgrade();
  if (result.status == 200) spdlog::info("SIGUSR2: upgraded, process {} serves", static_cast<long>(result.pid));
}

// Where the running binary was started from, as a path an upgrade runs again: argv[0] as given (made
// absolute), so that a symbolic link switched to a new version leads to it. Only when argv[0] was looked up
// in PATH is /proc/self/exe taken, read now: once the file is replaced it names a deleted one.
std::string executable_path(const char* argv0) {
  std::string given = argv0 != nullptr ? argv0 : "";
  if (given.find('/') != std::string::npos) {
    if (given.front() == '/') return given;
    std::error_code ec;
    const auto here = std::filesystem::current_path(ec);
    return ec ? given : (here / given).string();
  }
  std::string path(4096, '\0');
  const auto n = ::readlink("/proc/self/exe", path.data(), path.size() - 1);
  if (n <= 0) return given;
  path.resize(static_cast<std::size_t>(n));
  return path;
}

int serve(const std::string& path, const std::string& pid_path, drawbridge::admin::upgrade_hooks upgrade) {
  // A peer gone is an EPIPE wherever this process writes (a socket, stderr on a pipe, a binary upgrade's
  // pipes), never a signal that ends it.
  ::signal(SIGPIPE, SIG_IGN);
  // A binary upgrade's successor: the old process's sockets and verdicts come with it.
  std::string handover_error;
  auto handover = drawbridge::process::take_handover(handover_error);
  if (!handover_error.empty()) {
    std::cerr << "drawbridge: " << handover_error << '\n';
    return exit_start_error;
  }
  auto loaded = drawbridge::conf::load_config_file(path);
  if (!loaded.ok()) return report(loaded.errors);
  drawbridge::proxy::setup_operational_log(loaded.value.log_level);
  auto built = drawbridge::proxy::build_runtime(std::move(loaded.value));
  if (!built.value) return report(built.errors);
  raise_open_files_limit();

  // The state file and token file are read before anything listens: a node drained for an upgrade must
  // not take a single request because drawbridge restarted.
  drawbridge::admin::control_plane control(built.value);
  if (auto errors = control.restore(); !errors.empty()) return report(errors);

  drawbridge::proxy::server server(built.value);
  control.enable_reload(
      path, [&server](std::shared_ptr<const drawbridge::proxy::runtime> next) { server.publish(std::move(next)); });
  upgrade.listening_sockets = [&server] { return server.duplicate_sockets(); };
  drawbridge::process::pid_file pid_file;
  upgrade.taken_back = [&pid_file, &pid_path] {
    // The successor may have written the pid file before it was given up: it names this process again.
    if (pid_path.empty()) return;
    if (const auto problem = pid_file.write(pid_path); !problem.empty()) spdlog::error("{}", problem);
  };
  upgrade.handed_over = [&server](pid_t successor) {
    // The service manager watches the successor from now on (MAINPID handover: README, "Running on a host").
    tell_service_manager("MAINPID=" + std::to_string(successor) + "\nSTATUS=handed over to process " +
                         std::to_string(successor));
    server.stop();
  };
  const std::string executable = upgrade.executable;
  control.enable_upgrade(std::move(upgrade));
  drawbridge::proxy::server::listening_sockets inherited;
  if (handover) {
    for (auto& l : handover->listeners) inherited[l.address] = std::move(l.fds);
    control.inherit_admin_socket(std::move(handover->admin), handover->admin_address);
    control.adopt_health(handover->health);
    control.await_confirmation(std::move(handover->confirm));
  }
  // Signals are caught from here on, before anything listens or says it is ready: one that comes early (a
  // reload by logrotate or systemd, a stop) waits in the signal set until the thread below runs it, instead
  // of ending the process by its default action.
  boost::asio::io_context signals_io;
  boost::asio::signal_set signals(signals_io, SIGINT, SIGTERM, SIGHUP);
  signals.add(SIGUSR1);
  signals.add(SIGUSR2);
  std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec,
                                                                             int signal) {
    if (ec) return;
    // Reloads run on the control thread, which owns the runtime in service (admin/control_plane.hpp); the
    // outcome goes to the log.
    if (signal == SIGHUP) {
      spdlog::info("SIGHUP: reloading the config from {}", path);
      boost::asio::post(control.io(), [&control] {
        tell_service_manager("RELOADING=1\n" + drawbridge::process::monotonic_usec_line());
        const auto result = control.reload();
        tell_service_manager("READY=1\nSTATUS=serving, config generation " + std::to_string(result.generation) +
                             (result.status == 200 ? "" : " (the last reload was refused)"));
      });
      signals.async_wait(on_signal);
      return;
    }
    if (signal == SIGUSR2) {
      spdlog::info("SIGUSR2: upgrading to the binary at {}", executable);
      drawbridge::net_types::spawn_logged(control.io().get_executor(), upgrade_on_signal(control), "SIGUSR2 upgrade");
      signals.async_wait(on_signal);
      return;
    }
    if (signal == SIGUSR1) {
      boost::asio::post(control.io(), [&control] {
        if (auto error = control.reopen_logs()) spdlog::error("SIGUSR1: cannot reopen the access log: {}", *error);
      });
      signals.async_wait(on_signal);
      return;
    }
    control.shutting_down();  // an upgrade under way is given up
    tell_service_manager("STOPPING=1");
    spdlog::info("received signal {}, finishing in-flight requests (up to {})", signal,
                 drawbridge::conf::format_duration(server.current()->config.timeouts.shutdown_grace));
    server.stop();
  };
  signals.async_wait(on_signal);
  try {
    server.start(std::move(inherited));
    // Before the admin API (through which an upgrade may rewrite it) takes calls.
    if (!pid_path.empty())
      if (const auto problem = pid_file.write(pid_path); !problem.empty()) throw std::runtime_error(problem);
    control.start();
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    server.stop();
    server.wait();
    return exit_start_error;
  }
  if (handover) {
    // The old process is told, and it tells the service manager (MAINPID): this one is not the main
    // process yet, so a READY=1 of its own would be dropped.
    if (const auto problem = drawbridge::process::report_ready(*handover); !problem.empty()) {
      spdlog::critical("cannot start: {}", problem);
      server.stop();
      server.wait();
      control.stop();
      return exit_start_error;
    }
    spdlog::info("took over from the old process: serving");
  } else {
    tell_service_manager("READY=1\nSTATUS=serving, config generation 0");
  }

  std::thread signal_thread([&] { signals_io.run(); });
  server.wait();
  control.stop();
  signals_io.stop();
  signal_thread.join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"drawbridge: an HTTP/1.1 reverse proxy and load balancer for zero-downtime rolling upgrades"};
  app.set_version_flag("--version", std::string("drawbridge ") + DRAWBRIDGE_VERSION);
  app.require_subcommand(1);

  std::string config_path;
  auto* serve_cmd = app.add_subcommand("serve", "Run the proxy");
  serve_cmd->add_option("-c,--config", config_path, "JSON config file")->required();
  std::string pid_path;
  serve_cmd->add_option("--pid-file", pid_path, "Write the process id here once serving (removed at exit)");
  auto* check_cmd = app.add_subcommand("check", "Validate a config file: exit 0, or 2 with one line per problem");
  check_cmd->add_option("-c,--config", config_path, "JSON config file")->required();

  // The operator's commands, talking to a running drawbridge's admin API.
  const char* env_admin = std::getenv("DRAWBRIDGE_ADMIN");
  std::string admin_url = env_admin && *env_admin ? env_admin : "http://127.0.0.1:9901";
  std::string token_file;
  auto add_admin_options = [&](CLI::App* cmd) {
    cmd->add_option("--admin", admin_url,
                    "Admin API URL (default: $DRAWBRIDGE_ADMIN, else http://127.0.0.1:9901); nodes, drain, undrain and "
                    "rollout also take URL,URL,... to act on several replicas that share no state");
    cmd->add_option("--token-file", token_file, "File holding the admin token (default: $DRAWBRIDGE_ADMIN_TOKEN)");
  };
  std::string upstream, node, wait, drain_wait = "120s", health_wait = "600s", exec, nodes;
  bool force = false;
  auto* nodes_cmd = app.add_subcommand("nodes", "List the nodes of every upstream, or of one, with their state");
  nodes_cmd->add_option("upstream", upstream, "Upstream name");
  add_admin_options(nodes_cmd);
  auto* drain_cmd = app.add_subcommand("drain", "Stop sending new requests to a node; in-flight ones finish");
  drain_cmd->add_option("upstream", upstream)->required();
  drain_cmd->add_option("node", node)->required();
  drain_cmd->add_option("--wait", wait, "Wait until nothing is in flight (e.g. 120s)");
  drain_cmd->add_flag("--force", force, "Drain even below the upstream's min_available");
  add_admin_options(drain_cmd);
  auto* undrain_cmd = app.add_subcommand("undrain", "Put a node back once its health checks pass");
  undrain_cmd->add_option("upstream", upstream)->required();
  undrain_cmd->add_option("node", node)->required();
  undrain_cmd->add_option("--wait", wait, "Wait until the node is active (e.g. 600s)");
  add_admin_options(undrain_cmd);
  auto* reload_cmd = app.add_subcommand(
      "reload", "Re-read the running drawbridge's config file and apply it whole (or, if it is wrong, not at all)");
  add_admin_options(reload_cmd);
  auto* upgrade_cmd = app.add_subcommand(
      "upgrade",
      "Start the binary now on disk in place of the running drawbridge: it takes the listening sockets, and the "
      "old process finishes its requests and exits");
  add_admin_options(upgrade_cmd);
  auto* rollout_cmd =
      app.add_subcommand("rollout", "Upgrade every node in turn: drain, run a command, undrain, wait for health");
  rollout_cmd->add_option("upstream", upstream)->required();
  rollout_cmd
      ->add_option("--exec", exec,
                   "Command run by /bin/sh for each node; {node} and {address} are filled in, shell-quoted "
                   "(also $DRAWBRIDGE_NODE, $DRAWBRIDGE_ADDRESS, $DRAWBRIDGE_UPSTREAM)")
      ->required();
  rollout_cmd->add_option("--nodes", nodes, "Comma-separated nodes, in this order (default: all)");
  rollout_cmd->add_option("--drain-wait", drain_wait, "Longest wait for in-flight requests (default 120s)");
  rollout_cmd->add_option("--health-wait", health_wait, "Longest wait for health after the command (default 600s)");
  add_admin_options(rollout_cmd);

  // What a binary upgrade starts: this path and these arguments, read before anything can change them.
  drawbridge::admin::upgrade_hooks upgrade;
  upgrade.executable = executable_path(argv[0]);
  upgrade.args.assign(argv, argv + argc);
  CLI11_PARSE(app, argc, argv);
  if (*check_cmd) return check(config_path);
  if (*serve_cmd) return serve(config_path, pid_path, std::move(upgrade));

  drawbridge::admin::cli_context ctx{admin_url, ""};
  if (const char* token = std::getenv("DRAWBRIDGE_ADMIN_TOKEN"); token && *token)
    ctx.token = token;
  else if (!token_file.empty()) {
    ctx.token = drawbridge::admin::read_first_token(token_file);
    if (ctx.token.empty()) {
      std::cerr << "drawbridge: no token in " << token_file << '\n';
      return exit_config_error;
    }
  }
  auto run_command = [&]() -> int {
    if (*nodes_cmd) return drawbridge::admin::run_nodes(ctx, upstream);
    if (*drain_cmd) return drawbridge::admin::run_drain(ctx, upstream, node, wait, force);
    if (*undrain_cmd) return drawbridge::admin::run_undrain(ctx, upstream, node, wait);
    if (*reload_cmd) return drawbridge::admin::run_reload(ctx);
    if (*upgrade_cmd) return drawbridge::admin::run_upgrade(ctx);
    drawbridge::admin::rollout_options options{upstream, exec, {}, drain_wait, health_wait};
    for (std::size_t start = 0; start < nodes.size();) {
      const auto comma = nodes.find(',', start);
      const auto name = nodes.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!name.empty()) options.nodes.push_back(name);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return drawbridge::admin::run_rollout(ctx, options);
  };
  try {
    return run_command();
  } catch (const std::exception& e) {  // an answer that is not what the admin API documents
    std::cerr << "drawbridge: unexpected answer from the admin API: " << e.what() << '\n';
    return 1;
  }
}
