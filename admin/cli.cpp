#include "admin/cli.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>
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
// The longest `wait` the admin API takes (admin_api.cpp). With several replicas the wait is sent after the
// change, so the CLI checks it before changing anything: a wait refused then would leave the change made.
constexpr std::chrono::milliseconds max_api_wait = std::chrono::hours(24);

// One drawbridge process of the --admin list.
struct admin_replica {
  std::string url;  // as the user wrote it, for messages
  admin_client client;
};

// Every URL of --admin as a client, in the order given; nullopt after saying why (bad usage).
std::optional<std::vector<admin_replica>> make_replicas(const cli_context& ctx) {
  std::string error;
  const auto endpoints = parse_admin_urls(ctx.admin_url, error);
  if (!endpoints) {
    std::cerr << "drawbridge: " << error << '\n';
    return std::nullopt;
  }
  std::vector<admin_replica> replicas;
  replicas.reserve(endpoints->size());
  for (const auto& e : *endpoints) replicas.push_back(admin_replica{e.url, admin_client(e.target, ctx.token)});
  return replicas;
}

// The client of a command that acts on one process (reload, upgrade): one --admin URL.
std::optional<admin_client> make_client(const cli_context& ctx, const char* command) {
  auto replicas = make_replicas(ctx);
  if (!replicas) return std::nullopt;
  if (replicas->size() != 1) {
    std::cerr << "drawbridge: " << command << " acts on one drawbridge: --admin takes one URL here, got "
              << replicas->size() << '\n';
    return std::nullopt;
  }
  return std::move(replicas->front().client);
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

// A listing from the admin API (this version's or another's, mid-upgrade): .at() throws on a key it lacks,
// which main reports as an unexpected answer; operator[] on a const json that lacks the key is undefined.
void print_nodes(const json& upstream) {
  for (const auto& n : upstream.at("nodes")) {
    std::string last = "-";
    if (const auto check = n.find("last_check"); check != n.end() && check->is_object())
      last = check->value("ok", false) ? "ok" : check->value("error", std::string("failed"));
    std::printf("%-14s %-14s %-22s %-10s %-10s %-10s %9lld %10llu %9llu  %s\n",
                upstream.at("name").get<std::string>().c_str(), n.at("name").get<std::string>().c_str(),
                n.at("address").get<std::string>().c_str(), n.at("state").get<std::string>().c_str(),
                n.at("admin_state").get<std::string>().c_str(), n.at("health").get<std::string>().c_str(),
                n.at("in_flight").get<long long>(), n.at("requests_total").get<unsigned long long>(),
                n.at("failures_total").get<unsigned long long>(), last.c_str());
  }
}

// One replica's nodes as a table. False, after saying why on stderr (behind `who`), when it cannot list them.
bool print_table(const admin_client& client, const std::string& upstream, const std::string& who) {
  const auto reply = client.call(http::verb::get,
                                 upstream.empty() ? "/v1/upstreams" : "/v1/upstreams/" + encode_path_segment(upstream),
                                 "", answer_slack);
  if (reply.status != 200) {
    std::cerr << "drawbridge: " << who << describe_failure(reply) << '\n';
    return false;
  }
  const auto body = json::parse(reply.body, nullptr, false);
  std::printf("%-14s %-14s %-22s %-10s %-10s %-10s %9s %10s %9s  %s\n", "UPSTREAM", "NODE", "ADDRESS", "STATE", "ADMIN",
              "HEALTH", "IN_FLIGHT", "REQUESTS", "FAILURES", "LAST_CHECK");
  if (upstream.empty())
    for (const auto& u : body.at("upstreams")) print_nodes(u);
  else
    print_nodes(body);
  return true;
}

// `value` as one /bin/sh word: as it is when nothing in it is special to the shell, else single-quoted.
std::string shell_word(const std::string& value) {
  const bool plain = !value.empty() && std::all_of(value.begin(), value.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) != 0 ||
           std::string_view("@%+=:,./_-").find(ch) != std::string_view::npos;
  });
  return plain ? value : shell_quote(value);
}

// The URLs of the replicas at `which`, joined by `separator`.
std::string join_urls(const std::vector<admin_replica>& replicas, const std::vector<std::size_t>& which,
                      const char* separator) {
  std::string text;
  for (const auto at : which) {
    if (!text.empty()) text.append(separator);
    text.append(replicas[at].url);
  }
  return text;
}

// `drawbridge ACTION UPSTREAM NODE [--wait D] [--force] --admin URL,URL`, for the operator to paste.
std::string command_line(const std::string& action, const std::string& upstream, const std::string& node,
                         const std::string& wait, bool force, const std::vector<admin_replica>& replicas,
                         const std::vector<std::size_t>& which) {
  std::string line = "drawbridge ";
  line.append(action).append(" ").append(shell_word(upstream)).append(" ").append(shell_word(node));
  if (!wait.empty()) line.append(" --wait ").append(shell_word(wait));
  if (force) line.append(" --force");
  line.append(" --admin ").append(shell_word(join_urls(replicas, which, ",")));
  return line;
}

// A drain or undrain of one node, as asked of every replica.
struct node_change {
  std::string path;  // "/v1/upstreams/U/nodes/N/drain"
  bool force = false;
  bool waits = false;     // with a wait (a rollout always waits)
  std::string wait_text;  // the wait as the user wrote it: what a single replica is sent
  std::chrono::milliseconds wait{0};
};

// What one replica made of a node_change. `reply` is its last answer: the wait's, when it was asked to wait.
struct replica_outcome {
  bool tried = false;
  bool took = false;  // the change is in effect there (2xx; or 500 persist_failed: in effect, not saved)
  admin_reply reply;
};

std::string change_target(const node_change& change, bool waits, const std::string& wait_text) {
  std::string target = change.path;
  std::string query;
  if (waits) query.append("wait=").append(encode_path_segment(wait_text));
  if (change.force) query.append(query.empty() ? "" : "&").append("force=true");
  if (!query.empty()) target.append("?").append(query);
  return target;
}

bool took_change(const admin_reply& reply) {
  return reply.status / 100 == 2 || error_code_of(reply) == "persist_failed";
}

// Sends `change` to every replica. One replica gets one call, waiting as asked: what the CLI always sent.
// Several get the change without a wait, each in turn, then (when asked to wait) the same call with a wait,
// each with what is left of the user's: every replica has the change as early as can be, and the whole
// takes at most `wait` (and the answers' slack). A drain of a draining node and an undrain of a ready one
// change nothing more; they only wait.
std::vector<replica_outcome> apply_everywhere(const std::vector<admin_replica>& replicas, const node_change& change) {
  std::vector<replica_outcome> outcomes(replicas.size());
  if (replicas.size() == 1) {
    auto& only = outcomes.front();
    only.tried = true;
    only.reply = replicas.front().client.call(http::verb::post, change_target(change, change.waits, change.wait_text),
                                              "", change.wait + answer_slack);
    only.took = took_change(only.reply) || only.reply.status == 504;  // 504: made, but not done in time
    return outcomes;
  }
  const auto deadline = std::chrono::steady_clock::now() + change.wait;
  // The first replica that does not take the change stops it there: it disagrees with the ones before (it
  // has other nodes out, or lacks this one), and the change should reach as few replicas as it can until
  // the operator has looked.
  for (std::size_t at = 0; at < replicas.size(); ++at) {
    auto& o = outcomes[at];
    o.tried = true;
    o.reply = replicas[at].client.call(http::verb::post, change_target(change, false, ""), "", answer_slack);
    o.took = took_change(o.reply);
    if (o.reply.status / 100 != 2) return outcomes;
  }
  if (!change.waits) return outcomes;
  for (std::size_t at = 0; at < replicas.size(); ++at) {
    // A replica whose turn comes after the time is up is still asked, with 0ms: it answers how it stands.
    const auto left =
        std::max(std::chrono::milliseconds(0),
                 std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    std::string left_text = std::to_string(left.count());
    left_text.append("ms");
    outcomes[at].reply =
        replicas[at].client.call(http::verb::post, change_target(change, true, left_text), "", left + answer_slack);
  }
  return outcomes;
}

bool all_answered(const std::vector<replica_outcome>& outcomes, unsigned status) {
  return std::all_of(outcomes.begin(), outcomes.end(),
                     [status](const replica_outcome& o) { return o.tried && o.reply.status == status; });
}

// What went wrong, for a rollout's message: ": WHY" with one replica, " on URL: WHY; on URL: WHY" with several.
std::string failures(const std::vector<admin_replica>& replicas, const std::vector<replica_outcome>& outcomes,
                     unsigned expected) {
  std::string text;
  for (std::size_t at = 0; at < outcomes.size(); ++at) {
    const auto& o = outcomes[at];
    if (!o.tried || o.reply.status / 100 == 2) continue;
    if (replicas.size() > 1) text.append(text.empty() ? " on " : "; on ").append(replicas[at].url);
    text.append(": ").append(describe_failure(o.reply));
  }
  for (std::size_t at = 0; text.empty() && at < outcomes.size(); ++at)  // a 2xx other than `expected`
    if (outcomes[at].tried && outcomes[at].reply.status != expected)
      text.append(": ").append(describe_failure(outcomes[at].reply));
  return text;
}

// Whether a drain left the node out of rotation on a replica. 504: still draining; 500 persist_failed:
// drained, but drawbridge could not save that; no answer to the wait after the change was taken: draining.
bool left_out(const replica_outcome& o) {
  if (!o.tried) return false;
  const auto& reply = o.reply;
  if (reply.status / 100 == 2 || reply.status == 504 || error_code_of(reply) == "persist_failed") return true;
  return o.took && reply.status == 0;
}

// "; NODE stays out of rotation", and with several replicas where it does and where it does not.
std::string rotation_note(const std::string& node, const std::vector<admin_replica>& replicas,
                          const std::vector<bool>& out) {
  std::vector<std::size_t> out_at, in_at;
  for (std::size_t at = 0; at < out.size(); ++at) (out[at] ? out_at : in_at).push_back(at);
  std::string note;
  if (out_at.empty()) return note;
  note.append("; ").append(node).append(" stays out of rotation");
  if (replicas.size() == 1) return note;
  if (in_at.empty()) return note.append(" on every replica");
  note.append(" on ").append(join_urls(replicas, out_at, ", "));
  note.append(", still in rotation on ").append(join_urls(replicas, in_at, ", "));
  return note;
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
  const auto replicas = make_replicas(ctx);
  if (!replicas) return exit_usage;
  if (replicas->size() == 1) return print_table(replicas->front().client, upstream, "") ? exit_ok : exit_failed;
  // Each replica's table under its URL; one that cannot be reached does not hide the others.
  bool listed_all = true;
  for (std::size_t at = 0; at < replicas->size(); ++at) {
    const auto& r = (*replicas)[at];
    std::printf("%s== %s ==\n", at == 0 ? "" : "\n", r.url.c_str());
    std::fflush(stdout);  // before a failure's line on stderr
    std::string who = r.url;
    who.append(": ");
    if (!print_table(r.client, upstream, who)) listed_all = false;
  }
  return listed_all ? exit_ok : exit_failed;
}

namespace {

// With several replicas, a change that some took and others did not is left as it is and reported, with
// the command that undoes it and the one that completes it; it is not undone automatically. Each replica
// enforced its own min_available, so a node out on some of them is safe where it is out; an undo would be
// one more round of calls that can itself fail halfway, and undoing a drain means an undrain, which resets
// the node's health (it warms up again) on every replica it reaches. Once the cause is fixed, the same
// command run again completes the change: replicas that have it already are not changed again.
void report_split(const std::vector<admin_replica>& replicas, const std::vector<replica_outcome>& outcomes,
                  const std::string& action, const std::string& upstream, const std::string& node,
                  const std::string& wait, bool force) {
  std::vector<std::size_t> has, lacks, failed;
  for (std::size_t at = 0; at < outcomes.size(); ++at) {
    (outcomes[at].took ? has : lacks).push_back(at);
    if (outcomes[at].tried && outcomes[at].reply.status / 100 != 2) failed.push_back(at);
  }
  std::string what = action;
  what.append(" ").append(upstream).append("/").append(node);
  if (lacks.empty()) {
    std::cerr << "drawbridge: " << what << ": every replica has the change, but it did not complete on "
              << join_urls(replicas, failed, ", ") << '\n';
    return;
  }
  std::cerr << "drawbridge: " << what << ": ";
  if (has.empty())
    std::cerr << "no replica has the change\n";
  else
    std::cerr << "the change is on " << has.size() << " of " << replicas.size()
              << " replicas: " << join_urls(replicas, has, ", ") << '\n';
  std::string missing;
  for (const auto at : lacks) {
    if (!missing.empty()) missing.append(", ");
    missing.append(replicas[at].url);
    const auto& o = outcomes[at];
    missing.append(!o.tried ? " (not tried)" : o.reply.status == 0 ? " (no answer)" : " (refused)");
  }
  std::cerr << "drawbridge: not on " << missing << '\n';
  if (has.empty()) return;
  std::cerr << "drawbridge: to undo it: "
            << command_line(action == "drain" ? "undrain" : "drain", upstream, node, "", false, replicas, has) << '\n';
  std::cerr << "drawbridge: to complete it: " << command_line(action, upstream, node, wait, force, replicas, lacks)
            << '\n';
}

int node_action(const cli_context& ctx, const std::string& action, const std::string& upstream, const std::string& node,
                const std::string& wait, bool force) {
  const auto made = make_replicas(ctx);
  const auto limit = parse_wait(wait, "--wait");
  if (!made || !limit) return exit_usage;
  const auto& replicas = *made;
  const bool several = replicas.size() > 1;
  if (several && *limit > max_api_wait) {
    std::cerr << "drawbridge: --wait: at most 24h, got " << wait << '\n';
    return exit_usage;
  }
  const std::string path =
      "/v1/upstreams/" + encode_path_segment(upstream) + "/nodes/" + encode_path_segment(node) + "/" + action;
  const auto outcomes = apply_everywhere(replicas, node_change{path, force, !wait.empty(), wait, *limit});
  bool done = true;
  for (std::size_t at = 0; at < replicas.size(); ++at) {
    const auto& o = outcomes[at];
    if (!o.tried) {
      done = false;
      continue;
    }
    std::string on;  // which replica, when there are several
    if (several) on.append(" on ").append(replicas[at].url);
    if (o.reply.status / 100 != 2) {
      done = false;
      std::cout.flush();
      std::cerr << "drawbridge: " << action << " " << upstream << "/" << node << on << ": " << describe_failure(o.reply)
                << '\n';
      continue;
    }
    const auto body = json::parse(o.reply.body, nullptr, false);
    const bool shaped = body.is_object();  // value() throws on anything else, cutting the replicas' loop short
    std::cout << upstream << "/" << node << on << ": " << (shaped ? body.value("state", "?") : "?") << " (in flight "
              << (shaped ? body.value("in_flight", 0) : 0) << ")\n";
  }
  if (done) return exit_ok;
  if (several) {
    std::cout.flush();
    report_split(replicas, outcomes, action, upstream, node, wait, force);
  }
  return exit_failed;
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
  const auto client = make_client(ctx, "reload");
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
  const auto client = make_client(ctx, "upgrade");
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

namespace {

using node_list = std::vector<std::pair<std::string, std::string>>;  // name, address, in the upstream's order

node_list listed_nodes(const admin_reply& listing) {
  node_list nodes;
  const auto upstream = json::parse(listing.body, nullptr, false);
  for (const auto& n : upstream.at("nodes")) nodes.emplace_back(n.at("name"), n.at("address"));
  return nodes;
}

using version_map = std::map<std::string, std::string>;  // node name → version

// Each node's version in an upstream's listing (version affinity), by name; empty when none is known or
// the listing is not one: the rollout then says nothing about versions.
version_map listed_versions(const admin_reply& listing) {
  version_map out;
  if (listing.status != 200) return out;
  const auto parsed = json::parse(listing.body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("nodes")) return out;
  for (const auto& n : parsed["nodes"])
    if (n.is_object() && n.contains("name") && n["name"].is_string() && n.contains("version") &&
        n["version"].is_string())
      out[n["name"].get<std::string>()] = n["version"].get<std::string>();
  return out;
}

version_map node_versions(const admin_replica& r, const std::string& upstream) {
  return listed_versions(
      r.client.call(http::verb::get, "/v1/upstreams/" + encode_path_segment(upstream), "", answer_slack));
}

std::string version_of(const version_map& versions, const std::string& name) {
  const auto it = versions.find(name);
  return it == versions.end() ? "unknown" : it->second;
}

// "2.0 (node1 node2), 1.9 (node3)": the versions the upstream's nodes run.
std::string versions_summary(const version_map& versions) {
  std::map<std::string, std::string> by_version;
  for (const auto& [name, version] : versions)
    by_version[version].append(by_version[version].empty() ? "" : " ").append(name);
  std::string out;
  for (const auto& [version, names] : by_version)
    out.append(out.empty() ? "" : ", ").append(version).append(" (").append(names).append(")");
  return out;
}

// How replica `theirs` (at `their_url`) differs from the plan made from the first replica's list (at
// `first_url`); empty when it has every planned node at the same address and, for a rollout of the whole
// upstream, no other.
std::string disagreement(const node_list& plan, const std::string& first_url, const node_list& theirs,
                         const std::string& their_url, bool whole_upstream) {
  std::string text = their_url;
  for (const auto& planned : plan) {
    const auto it = std::find_if(theirs.begin(), theirs.end(), [&](const auto& p) { return p.first == planned.first; });
    if (it == theirs.end()) return text.append(" has no node \"").append(planned.first).append("\"");
    if (it->second != planned.second)
      return text.append(" has node \"")
          .append(planned.first)
          .append("\" at ")
          .append(it->second)
          .append(", ")
          .append(first_url)
          .append(" at ")
          .append(planned.second);
  }
  if (!whole_upstream) return {};
  for (const auto& listed : theirs) {
    const auto it = std::find_if(plan.begin(), plan.end(), [&](const auto& p) { return p.first == listed.first; });
    if (it == plan.end())
      return text.append(" has a node \"").append(listed.first).append("\" that ").append(first_url).append(" has not");
  }
  return {};
}

}  // namespace

int run_rollout(const cli_context& ctx, const rollout_options& options) {
  const auto made = make_replicas(ctx);
  const auto drain_wait = parse_wait(options.drain_wait, "--drain-wait");
  const auto health_wait = parse_wait(options.health_wait, "--health-wait");
  if (!made || !drain_wait || !health_wait) return exit_usage;
  const auto& replicas = *made;
  const bool several = replicas.size() > 1;
  if (several && (*drain_wait > max_api_wait || *health_wait > max_api_wait)) {
    std::cerr << "drawbridge: --drain-wait and --health-wait: at most 24h\n";
    return exit_usage;
  }
  const auto started = std::chrono::steady_clock::now();
  const std::string& u = options.upstream;

  std::vector<node_list> lists;  // each replica's nodes
  lists.reserve(replicas.size());
  version_map versions;  // version affinity: the first replica's, read again once each node is back
  for (const auto& r : replicas) {
    const auto listing = r.client.call(http::verb::get, "/v1/upstreams/" + encode_path_segment(u), "", answer_slack);
    if (listing.status != 200) {
      std::cerr << "rollout " << u << ": " << (several ? r.url + ": " : std::string()) << describe_failure(listing)
                << '\n';
      return exit_failed;
    }
    if (lists.empty()) versions = listed_versions(listing);
    lists.push_back(listed_nodes(listing));
  }
  node_list plan = lists.front();
  if (!options.nodes.empty()) {
    node_list chosen;
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
  // Replicas that list different nodes have been set up (or changed) apart: a rollout would leave a node
  // in rotation on one of them while it is upgraded, or skip one. Nothing is changed before they agree.
  for (std::size_t at = 1; at < replicas.size(); ++at) {
    const auto differs = disagreement(plan, replicas.front().url, lists[at], replicas[at].url, options.nodes.empty());
    if (differs.empty()) continue;
    std::cerr << "rollout " << u << ": the replicas do not list the same nodes: " << differs
              << "; nothing was changed\n";
    return exit_failed;
  }
  std::cout << "rollout " << u << ": " << plan.size() << " node(s):";
  for (const auto& [name, _] : plan) std::cout << ' ' << name;
  std::cout << std::endl;
  std::string where;  // " on 2 replicas", after each step's word, when there are several
  if (several) {
    where.append(" on ").append(std::to_string(replicas.size())).append(" replicas");
    std::cout << "rollout " << u << ": each step" << where << ":";
    for (const auto& r : replicas) std::cout << ' ' << r.url;
    std::cout << std::endl;
  }

  const auto total = plan.size();
  for (std::size_t i = 0; i < total; ++i) {
    // Not a structured binding: clang 14 cannot capture one in a lambda (stop, below).
    const std::string& name = plan[i].first;
    const std::string& address = plan[i].second;
    std::string step;  // "[2/3] node2: " (appended piecewise: g++ 12 warns falsely on a + chain here)
    step.append("[").append(std::to_string(i + 1)).append("/").append(std::to_string(total));
    step.append("] ").append(name).append(": ");
    // `out`: per replica, whether the node is out of rotation there now.
    auto stop = [&](const std::string& why, const std::vector<bool>& out) {
      std::cout << step << "FAILED: " << why << std::endl;
      std::cerr << "rollout " << u << ": stopped at " << name << ": " << why << rotation_note(name, replicas, out);
      if (i + 1 < total) std::cerr << "; " << (total - i - 1) << " node(s) not touched";
      std::cerr << '\n';
      std::vector<std::size_t> out_at;
      for (std::size_t at = 0; at < out.size(); ++at)
        if (out[at]) out_at.push_back(at);
      if (!out_at.empty() && out_at.size() < replicas.size())
        std::cerr << "rollout " << u << ": to put " << name
                  << " back in rotation: " << command_line("undrain", u, name, "", false, replicas, out_at) << '\n';
      return exit_failed;
    };
    const std::string base = "/v1/upstreams/" + encode_path_segment(u) + "/nodes/" + encode_path_segment(name);
    const auto before = version_of(versions, name);
    if (!versions.empty()) std::cout << step << "version " << before << std::endl;

    std::cout << step << "draining" << where << " (waiting up to " << options.drain_wait << " for in-flight requests)"
              << std::endl;
    const auto drained =
        apply_everywhere(replicas, node_change{base + "/drain", false, true, options.drain_wait, *drain_wait});
    // 504: still draining; 500 persist_failed: drained, but drawbridge could not save that. Either way the
    // node is out of rotation, and the rollout does not go on with a state a restart would undo.
    if (!all_answered(drained, 200)) {
      std::vector<bool> out(drained.size(), false);
      for (std::size_t at = 0; at < drained.size(); ++at) out[at] = left_out(drained[at]);
      std::string why = "drain";
      why.append(failures(replicas, drained, 200));
      return stop(why, out);
    }
    std::cout << step << "drained" << where << std::endl;

    // Only now, drained on every replica, is the node upgraded.
    const auto command = fill_placeholders(options.exec, name, address);
    std::cout << step << "running: " << command << std::endl;
    const int status = run_node_command({command, name, address, u}, name + " | ");
    if (status != 0)
      return stop(
          "the command exited with " + (status < 0 ? std::string("a signal or could not run") : std::to_string(status)),
          std::vector<bool>(replicas.size(), true));
    std::cout << step << "command done; undraining" << where << " (waiting up to " << options.health_wait
              << " for health)" << std::endl;
    const auto undrained =
        apply_everywhere(replicas, node_change{base + "/undrain", false, true, options.health_wait, *health_wait});
    if (!all_answered(undrained, 200)) {
      // Out of rotation means out: drained again (on every replica), so that the node cannot slip back in on
      // its own once its checks pass, with nobody looking at it.
      std::vector<bool> out(replicas.size(), false);
      std::string not_again;
      for (std::size_t at = 0; at < replicas.size(); ++at) {
        const auto redrain = replicas[at].client.call(http::verb::post, base + "/drain?force=true", "", answer_slack);
        out[at] = redrain.status / 100 == 2 || error_code_of(redrain) == "persist_failed";
        if (out[at]) continue;
        not_again.append("; could not drain it again");
        if (several) not_again.append(" on ").append(replicas[at].url);
        not_again.append(": ").append(describe_failure(redrain));
      }
      std::string why = "undrain";
      why.append(failures(replicas, undrained, 200)).append(not_again.empty() ? "; drained again" : not_again);
      return stop(why, out);
    }
    // Only now, active on every replica, does the rollout go on to the next node.
    std::cout << step << "active" << where << std::endl;
    versions = node_versions(replicas.front(), u);
    if (!versions.empty())
      std::cout << step << "version " << before << " -> " << version_of(versions, name) << std::endl;
  }
  if (!versions.empty()) std::cout << "rollout " << u << ": versions now: " << versions_summary(versions) << std::endl;
  std::cout << "rollout " << u << ": done, " << total << " node(s)" << where << " in " << seconds_since(started)
            << std::endl;
  return exit_ok;
}

}  // namespace drawbridge::admin
