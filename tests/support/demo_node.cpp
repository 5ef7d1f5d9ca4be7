// demo-node: plays an Appsmith node for scripts/run, the benchmark and manual tests (see fake_node.hpp
// for what it answers). Runs until SIGINT/SIGTERM.

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>

#include "conf/address.hpp"
#include "conf/units.hpp"
#include "tests/support/fake_node.hpp"

int main(int argc, char** argv) {
  CLI::App app{"demo-node: a stand-in for an Appsmith node"};
  std::string name = "node1";
  std::string listen = "127.0.0.1:0";
  std::string start_delay = "0s";
  std::string record_header;
  std::string version;
  app.add_option("--name", name, "Name reported in every answer");
  app.add_option("--version", version,
                 "Answer as an Appsmith node of this version: X-Appsmith-Version on every answer, GET /info, 400 "
                 "to an API call of another version, an index.html loading /static/js/main.VERSION.js");
  app.add_option("--listen", listen, "host:port to listen on (port 0: any free port, printed)");
  app.add_option("--start-delay", start_delay,
                 "Answer 502 to everything for this long after start, as a booting Appsmith node does (e.g. 20s)");
  app.add_option("--record-header", record_header,
                 "Print \"recorded VALUE\" for this request header of every request, as it arrives (tests)");
  CLI11_PARSE(app, argc, argv);

  const auto address = drawbridge::conf::parse_host_port(listen);
  const auto delay = drawbridge::conf::parse_duration(start_delay);
  if (!address || !delay) {
    std::cerr << "demo-node: --listen wants host:port and --start-delay a duration such as 20s\n";
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before the node's thread starts, so it inherits it

  drawbridge::testing::fake_node_options options;
  options.name = name;
  options.host = address->host;
  options.port = address->port;
  options.start_delay = *delay;
  options.record_header = record_header;
  options.version = version;
  if (!record_header.empty())
    options.on_record = [](const std::string& value) { std::cout << "recorded " << value << std::endl; };
  drawbridge::testing::fake_node node(std::move(options));
  std::cout << "demo-node " << name << " listening on " << address->host << ":" << node.port()
            << (version.empty() ? "" : " as version " + version) << std::endl;
  int received = 0;
  sigwait(&signals, &received);
  return 0;
}
