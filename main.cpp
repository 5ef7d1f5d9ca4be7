// The composition root: command line, config, logs, the data plane, signals.

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <iostream>
#include <thread>
#include <spdlog/spdlog.h>

#include "conf/config_loader.hpp"
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
  std::cout << path << ": ok (" << loaded.value.upstreams.size() << " upstream(s), "
            << loaded.value.routes.size() << " route(s), " << loaded.value.listeners.size()
            << " listener(s))\n";
  return 0;
}

int serve(const std::string& path) {
  auto loaded = drawbridge::conf::load_config_file(path);
  if (!loaded.ok()) return report(loaded.errors);
  drawbridge::proxy::setup_operational_log(loaded.value.log_level);
  auto built = drawbridge::proxy::build_runtime(std::move(loaded.value));
  if (!built.value) return report(built.errors);
  raise_open_files_limit();

  drawbridge::proxy::server server(built.value);
  try {
    server.start();
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return exit_start_error;
  }

  boost::asio::io_context signals_io;
  boost::asio::signal_set signals(signals_io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("received signal {}, finishing in-flight requests (up to {})", signal,
                 drawbridge::conf::format_duration(built.value->config.timeouts.shutdown_grace));
    server.stop();
  });
  std::thread signal_thread([&] { signals_io.run(); });
  server.wait();
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
  auto* check_cmd = app.add_subcommand("check", "Validate a config file: exit 0, or 2 with one line per problem");
  check_cmd->add_option("-c,--config", config_path, "JSON config file")->required();

  CLI11_PARSE(app, argc, argv);
  if (*check_cmd) return check(config_path);
  return serve(config_path);
}
