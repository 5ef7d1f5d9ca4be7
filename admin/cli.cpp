#include "admin/cli.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "admin/admin_client.hpp"
#include "conf/units.hpp"
#include "process/upgrade_handover.hpp"

namespace drawbridge::admin {

using json = nlohmann::json;
namespace http = boost::beast::http;

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
// Time for the admin API to answer, on top of whatever `wait` it was asked to wait.
constexpr std::chrono::milliseconds answer_slack = std::chrono::seconds(15);

std::optional<admin_client> make_client(const cli_context& ctx) {
  std::string error;
  auto target = parse_admin_url(ctx.admin_url, error);
  if (!target) {
    std::cerr << "drawbridge: " << error << '\n';
    return std::nullopt;
  }
  return admin_client(*target, ctx.token);
}

// The error message of an answer, or a description of the transport failure.
std::string describe_failure(const admin_reply& reply) {
  if (reply.status == 0) return "cannot reach the admin API: " + reply.error;
  const auto body = json::parse(reply.body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_object())
    return body["error"].value("message", "") + " (" + std::to_string(reply.status) + " " +
           body["error"].value("code", "") + ")";
  return "HTTP " + std::to_string(reply.status);
}

// The JSON error code of an answer ("persist_failed"), or empty.
std::string error_code_of(const admin_reply& reply) {
  const auto body = json::parse(reply.body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) return body["error"].value("code", "");
  return "";
}

std::optional<std::chrono::milliseconds> parse_wait(const std::string& text, const char* option) {
  if (text.empty()) return std::chrono::milliseconds(0);
  const auto d = conf::parse_duration(text);
  if (!d) std::cerr << "drawbridge: " << option << " wants a duration such as 30s or 5m, got \"" << text << "\"\n";
  return d;
}

std::string seconds_since(std::chrono::steady_clock::time_point start) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1fs",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return text;
}

void print_nodes(const json& upstream) {
  for (const auto& n : upstream["nodes"]) {
    std::string last = "-";
    if (n["last_check"].is_object())
      last = n["last_check"]["ok"].get<bool>() ? "ok" : n["last_check"]["error"].get<std::string>();
    std::printf("%-14s %-14s %-22s %-10s %-10s %-10s %9lld %10llu %9llu  %s\n",
                upstream["name"].get<std::string>().c_str(), n["name"].get<std::string>().c_str(),
                n["address"].get<std::string>().c_str(), n["state"].get<std::string>().c_str(),
                n["admin_state"].get<std::string>().c_str(), n["health"].get<std::string>().c_str(),
                n["in_flight"].get<long long>(), n["requests_total"].get<unsigned long long>(),
                n["failures_total"].get<unsigned long long>(), last.c_str());
  }
}

}  // namespace

int run_node_command(const node_command& c, const std::string& prefix) {
  // The child's environment, built before fork: between fork and exec only async-signal-safe calls.
  std::vector<std::string> variables{"DRAWBRIDGE_NODE=" + c.node, "DRAWBRIDGE_ADDRESS=" + c.address,
                                     "DRAWBRIDGE_UPSTREAM=" + c.upstream};
  for (char** e = environ; *e; ++e) {
    const std::string_view entry(*e);
    if (entry.rfind("DRAWBRIDGE_NODE=", 0) != 0 && entry.rfind("DRAWBRIDGE_ADDRESS=", 0) != 0 &&
        entry.rfind("DRAWBRIDGE_UPSTREAM=", 0) != 0)
      variables.emplace_back(entry);
  }
  std::vector<char*> envp;
  envp.reserve(variables.size() + 1);
  for (auto& v : variables) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string command = c.command;
  char shell[] = "/bin/sh", name[] = "sh", dash_c[] = "-c";
  char* argv[] = {name, dash_c, command.data(), nullptr};

  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return -1;
  std::cout.flush();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return -1;
  }
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ::execve(shell, argv, envp.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  FILE* out = ::fdopen(pipe_fds[0], "r");
  char line[4096];
  bool at_line_start = true;
  while (out && std::fgets(line, sizeof line, out)) {
    if (at_line_start) std::cout << prefix;
    std::cout << line;
    at_line_start = line[std::strlen(line) - 1] == '\n';
  }
  if (!at_line_start) std::cout << '\n';
  std::cout.flush();
  if (out) std::fclose(out);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string shell_quote(const std::string& value) {
  std::string quoted = "'";
  for (const char ch : value) {
    if (ch == '\'')
      quoted += "'\\''";  // end the quote, an escaped ', quote again
    else
      quoted += ch;
  }
  return quoted + "'";
}

std::string encode_path_segment(const std::string& segment) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char ch : segment) {
    if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

std::string fill_placeholders(std::string command, const std::string& node, const std::string& address) {
  for (const auto& [key, value] :
       {std::pair<std::string, std::string>{"{node}", shell_quote(node)}, {"{address}", shell_quote(address)}}) {
    for (auto at = command.find(key); at != std::string::npos; at = command.find(key, at + value.size()))
      command.replace(at, key.size(), value);
  }
  return command;
}

int run_nodes(const cli_context& ctx, const std::string& upstream) {
  const auto client = make_client(ctx);
  if (!client) return exit_usage;
  const auto reply = client->call(http::verb::get,
                                  upstream.empty() ? "/v1/upstreams" : "/v1/upstreams/" + encode_path_segment(upstream),
                                  "", answer_slack);
  if (reply.status != 200) {
    std::cerr << "drawbridge: " << describe_failure(reply) << '\n';
    return exit_failed;
  }
  const auto body = json::parse(reply.body, nullptr, false);
  std::printf("%-14s %-14s %-22s %-10s %-10s %-10s %9s %10s %9s  %s\n", "UPSTREAM", "NODE", "ADDRESS", "STATE", "ADMIN",
              "HEALTH", "IN_FLIGHT", "REQUESTS", "FAILURES", "LAST_CHECK");
  if (upstream.empty())
    for (const auto& u : body["upstreams"]) print_nodes(u);
  else
    print_nodes(body);
  return exit_ok;
}

namespace {
int node_action(const cli_context& ctx, const std::string& action, const std::string& upstream, const std::string& node,
                const std::string& wait, bool force) {
  const auto client = make_client(ctx);
  const auto limit = parse_wait(wait, "--wait");
  if (!client || !limit) return exit_usage;
  std::string target =
      "/v1/upstreams/" + encode_path_segment(upstream) + "/nodes/" + encode_path_segment(node) + "/" + action;
  std::string query;
  if (!wait.empty()) query.append("wait=").append(encode_path_segment(wait));
  if (force) query.append(query.empty() ? "" : "&").append("force=true");
  if (!query.empty()) target.append("?").append(query);
  const auto reply = client->call(http::verb::post, target, "", *limit + answer_slack);
  if (reply.status / 100 != 2) {
    std::cerr << "drawbridge: " << action << " " << upstream << "/" << node << ": " << describe_failure(reply) << '\n';
    return exit_failed;
  }
  const auto body = json::parse(reply.body, nullptr, false);
  std::cout << upstream << "/" << node << ": " << body.value("state", "?") << " (in flight "
            << body.value("in_flight", 0) << ")\n";
  return exit_ok;
}
}  // namespace

int run_drain(const cli_context& ctx, const std::string& upstream, const std::string& node, const std::string& wait,
              bool force) {
  return node_action(ctx, "drain", upstream, node, wait, force);
}

int run_undrain(const cli_context& ctx, const std::string& upstream, const std::string& node, const std::string& wait) {
  return node_action(ctx, "undrain", upstream, node, wait, false);
}

int run_reload(const cli_context& ctx) {
  const auto client = make_client(ctx);
  if (!client) return exit_usage;
  // Resolving node names and loading certificates take a moment; the slack covers them.
  const auto reply = client->call(http::verb::post, "/v1/config/reload", "", answer_slack);
  const auto body = json::parse(reply.body, nullptr, false);
  if (reply.status == 200 && body.is_object() && body.contains("config")) {
    const auto& config = body["config"];
    std::cout << "reloaded " << config.value("path", "") << ": generation " << body.value("generation", 0)
              << " (sha256 " << config.value("sha256", "").substr(0, 12) << ")\n";
    return exit_ok;
  }
  // Every problem on a line of its own, as `drawbridge check` prints them.
  if (body.is_object() && body.contains("error") && body["error"].contains("problems")) {
    std::cerr << "reload refused (" << reply.status << " " << body["error"].value("code", "")
              << "); the running config stays:\n";
    for (const auto& p : body["error"]["problems"]) std::cerr << "  " << p.get<std::string>() << '\n';
    return exit_failed;
  }
  std::cerr << "reload: " << describe_failure(reply) << '\n';
  return exit_failed;
}

int run_upgrade(const cli_context& ctx) {
  const auto client = make_client(ctx);
  if (!client) return exit_usage;
  // The new binary has upgrade_ready_timeout to come up; the answer waits for it.
  const auto reply = client->call(http::verb::post, "/v1/upgrade", "", process::upgrade_ready_timeout + answer_slack);
  const auto body = json::parse(reply.body, nullptr, false);
  if (reply.status == 200 && body.is_object() && body.contains("pid")) {
    std::cout << "upgraded: process " << body.value("pid", 0L) << " (drawbridge " << body.value("version", "?")
              << ") serves; process " << body.value("old_pid", 0L) << " finishes its requests and exits\n";
    return exit_ok;
  }
  std::cerr << "upgrade: " << describe_failure(reply) << '\n';
  if (body.is_object() && body.contains("output") && body["output"].is_string()) {
    std::cerr << "what the new process printed:\n" << body["output"].get<std::string>();
    if (!body["output"].get<std::string>().ends_with('\n')) std::cerr << '\n';
  }
  return exit_failed;
}

int run_rollout(const cli_context& ctx, const rollout_options& options) {
  const auto client = make_client(ctx);
  const auto drain_wait = parse_wait(options.drain_wait, "--drain-wait");
  const auto health_wait = parse_wait(options.health_wait, "--health-wait");
  if (!client || !drain_wait || !health_wait) return exit_usage;
  const auto started = std::chrono::steady_clock::now();
  const std::string& u = options.upstream;

  const auto listing = client->call(http::verb::get, "/v1/upstreams/" + encode_path_segment(u), "", answer_slack);
  if (listing.status != 200) {
    std::cerr << "rollout " << u << ": " << describe_failure(listing) << '\n';
    return exit_failed;
  }
  std::vector<std::pair<std::string, std::string>> plan;  // name, address
  const auto upstream = json::parse(listing.body, nullptr, false);
  for (const auto& n : upstream["nodes"]) plan.emplace_back(n["name"], n["address"]);
  if (!options.nodes.empty()) {
    std::vector<std::pair<std::string, std::string>> chosen;
    for (const auto& name : options.nodes) {
      const auto it = std::find_if(plan.begin(), plan.end(), [&](const auto& p) { return p.first == name; });
      if (it == plan.end()) {
        std::cerr << "rollout " << u << ": no node \"" << name << "\" in upstream " << u << '\n';
        return exit_usage;
      }
      chosen.push_back(*it);
    }
    plan = std::move(chosen);
  }
  std::cout << "rollout " << u << ": " << plan.size() << " node(s):";
  for (const auto& [name, _] : plan) std::cout << ' ' << name;
  std::cout << std::endl;

  const auto total = plan.size();
  for (std::size_t i = 0; i < total; ++i) {
    // Not a structured binding: clang 14 cannot capture one in a lambda (stop, below).
    const std::string& name = plan[i].first;
    const std::string& address = plan[i].second;
    std::string step;  // "[2/3] node2: " (appended piecewise: g++ 12 warns falsely on a + chain here)
    step.append("[").append(std::to_string(i + 1)).append("/").append(std::to_string(total));
    step.append("] ").append(name).append(": ");
    auto stop = [&](const std::string& why, bool out_of_rotation) {
      std::cout << step << "FAILED: " << why << std::endl;
      std::cerr << "rollout " << u << ": stopped at " << name << ": " << why;
      if (out_of_rotation) std::cerr << "; " << name << " stays out of rotation";
      if (i + 1 < total) std::cerr << "; " << (total - i - 1) << " node(s) not touched";
      std::cerr << '\n';
      return exit_failed;
    };
    const std::string base = "/v1/upstreams/" + encode_path_segment(u) + "/nodes/" + encode_path_segment(name);

    std::cout << step << "draining (waiting up to " << options.drain_wait << " for in-flight requests)" << std::endl;
    auto reply = client->call(http::verb::post, base + "/drain?wait=" + encode_path_segment(options.drain_wait), "",
                              *drain_wait + answer_slack);
    // 504: still draining; 500 persist_failed: drained, but drawbridge could not save that. Either way the
    // node is out of rotation, and the rollout does not go on with a state a restart would undo.
    if (reply.status != 200)
      return stop("drain: " + describe_failure(reply), reply.status == 504 || error_code_of(reply) == "persist_failed");
    std::cout << step << "drained" << std::endl;

    const auto command = fill_placeholders(options.exec, name, address);
    std::cout << step << "running: " << command << std::endl;
    const int status = run_node_command({command, name, address, u}, name + " | ");
    if (status != 0)
      return stop(
          "the command exited with " + (status < 0 ? std::string("a signal or could not run") : std::to_string(status)),
          true);
    std::cout << step << "command done; undraining (waiting up to " << options.health_wait << " for health)"
              << std::endl;
    reply = client->call(http::verb::post, base + "/undrain?wait=" + encode_path_segment(options.health_wait), "",
                         *health_wait + answer_slack);
    if (reply.status != 200) {
      // Out of rotation means out: drained again, so that the node cannot slip back in on its own
      // once its checks pass, with nobody looking at it.
      const auto redrain = client->call(http::verb::post, base + "/drain?force=true", "", answer_slack);
      const bool out = redrain.status / 100 == 2 || error_code_of(redrain) == "persist_failed";
      return stop("undrain: " + describe_failure(reply) +
                      (out ? "; drained again" : "; could not drain it again: " + describe_failure(redrain)),
                  out);
    }
    std::cout << step << "active" << std::endl;
  }
  std::cout << "rollout " << u << ": done, " << total << " node(s) in " << seconds_since(started) << std::endl;
  return exit_ok;
}

}  // namespace drawbridge::admin
