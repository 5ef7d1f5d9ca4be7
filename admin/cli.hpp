#pragma once
// The operator's commands: `drawbridge nodes|drain|undrain|rollout`, talking to a running drawbridge's
// admin API. Each returns the process exit code: 0 done, 1 refused or failed, 2 bad usage.

#include <optional>
#include <string>
#include <vector>

namespace drawbridge::admin {

struct cli_context {
  std::string admin_url;  // --admin, else $DRAWBRIDGE_ADMIN, else http://127.0.0.1:9901
  std::string token;      // $DRAWBRIDGE_ADMIN_TOKEN, else the first token of --token-file
};

int run_nodes(const cli_context& ctx, const std::string& upstream);
int run_drain(const cli_context& ctx, const std::string& upstream, const std::string& node,
              const std::string& wait, bool force);
int run_undrain(const cli_context& ctx, const std::string& upstream, const std::string& node,
                const std::string& wait);

struct rollout_options {
  std::string upstream;
  std::string exec;                // with {node} and {address} placeholders
  std::vector<std::string> nodes;  // empty = every node, in the upstream's order
  std::string drain_wait = "120s";
  std::string health_wait = "600s";
};
// Node after node: drain and wait, run the command, undrain and wait for health. Stops at the first
// failure, leaving the failing node out of rotation and the following ones untouched.
int run_rollout(const cli_context& ctx, const rollout_options& options);

// Replaces every {node} and {address} in `command`.
std::string fill_placeholders(std::string command, const std::string& node, const std::string& address);

}  // namespace drawbridge::admin
