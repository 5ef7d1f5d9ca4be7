#pragma once
// The operator's commands: `drawbridge nodes|drain|undrain|rollout|reload`, talking to a running drawbridge's
// admin API. Each returns the process exit code: 0 done, 1 refused or failed, 2 bad usage.

#include <optional>
#include <string>
#include <vector>

namespace drawbridge::admin {

struct cli_context {
  // --admin, else $DRAWBRIDGE_ADMIN, else http://127.0.0.1:9901. For nodes, drain, undrain and rollout also
  // a comma-separated list, one URL per replica (drawbridge processes without shared state): every step is
  // then applied to each of them, in the order given. reload and upgrade take one URL.
  std::string admin_url;
  std::string token;  // $DRAWBRIDGE_ADMIN_TOKEN, else the first token of --token-file; sent to every URL
};

// With several replicas: each one's table under a "== URL ==" line; 1 when any could not be listed.
int run_nodes(const cli_context& ctx, const std::string& upstream);
// With several replicas: the change on each in turn (stopping at the first that refuses it), then the wait
// on each, all within `wait`. A change some replicas took and others not is reported with the commands
// that undo or complete it, and exits 1.
int run_drain(const cli_context& ctx, const std::string& upstream, const std::string& node, const std::string& wait,
              bool force);
int run_undrain(const cli_context& ctx, const std::string& upstream, const std::string& node, const std::string& wait);
// POST /v1/config/reload: prints the new generation, or every problem with the config file.
int run_reload(const cli_context& ctx);
// POST /v1/upgrade: prints the new process's pid, or why it did not come up and what it printed.
int run_upgrade(const cli_context& ctx);

struct rollout_options {
  std::string upstream;
  std::string exec;                // with {node} and {address} placeholders (see fill_placeholders)
  std::vector<std::string> nodes;  // empty = every node, in the upstream's order
  std::string drain_wait = "120s";
  std::string health_wait = "600s";
};
// Node after node: drain and wait, run the command, undrain and wait for health. Stops at the first
// failure, leaving the failing node out of rotation and the following ones untouched. With several
// replicas every one must list the same nodes; a node's command runs once it is drained on all of them,
// and the next node starts once it is active on all of them.
int run_rollout(const cli_context& ctx, const rollout_options& options);

// Replaces every {node} and {address} in `command` with the value in single quotes (a ' inside written
// '\''), so that /bin/sh takes it as one word whatever it holds: a node named `a;touch /tmp/x` runs nothing.
std::string fill_placeholders(std::string command, const std::string& node, const std::string& address);

// `value` as one single-quoted /bin/sh word.
std::string shell_quote(const std::string& value);

// Runs `command` with /bin/sh -c, with DRAWBRIDGE_NODE, DRAWBRIDGE_ADDRESS and DRAWBRIDGE_UPSTREAM in its
// environment, its output (stdout and stderr) printed line by line behind `prefix`. Returns the exit
// status, or -1 when it could not run or was killed.
struct node_command {
  std::string command;
  std::string node;
  std::string address;
  std::string upstream;
};
int run_node_command(const node_command& c, const std::string& prefix);

// `segment` percent-encoded for a URL path: everything but letters, digits and -._~.
std::string encode_path_segment(const std::string& segment);

}  // namespace drawbridge::admin
