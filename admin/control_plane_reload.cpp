// control_plane::reload: a config file read again and put into service whole, or not at all.

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "admin/control_plane.hpp"
#include "conf/config_loader.hpp"

namespace drawbridge::admin {

namespace {

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1) return {};
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xf];
  }
  return out;
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

void control_plane::enable_reload(std::string path, publisher publish) {
  if (auto text = read_file(path)) config_status_.sha256 = sha256_hex(*text);
  config_status_.path = std::move(path);
  publish_ = std::move(publish);
}

reload_result control_plane::reload(proxy::build_options options) {
  reload_result result;
  auto refuse = [&](unsigned status, std::vector<std::string> errors) {
    result.status = status;
    result.errors = std::move(errors);
    result.generation = config_status_.generation;
    ++config_status_.reloads_failed;
    for (const auto& e : result.errors) spdlog::error("config reload: {}", e);
    spdlog::error("config reload refused ({} problem(s)); generation {} stays in service", result.errors.size(),
                  config_status_.generation);
    return result;
  };
  if (config_status_.path.empty() || !publish_) return refuse(503, {"this process has no config file to reload"});
  if (upgrading()) return refuse(503, {"a binary upgrade is in progress: reload the new process once it serves"});

  // 1. The file, validated as `drawbridge check` does.
  const auto text = read_file(config_status_.path);
  if (!text) return refuse(400, {config_status_.path + ": cannot read the config file"});
  auto loaded = conf::parse_config(*text);
  if (!loaded.ok()) return refuse(400, std::move(loaded.errors));

  // 2. Built beside the running runtime (nodes resolved, new listeners' certificates loaded, the access
  // log opened when its config changed), sharing what did not change. Nothing shared is touched yet.
  auto built = proxy::build_runtime(std::move(loaded.value), runtime_.get(), options);
  if (!built.value) return refuse(400, std::move(built.errors));
  const auto next = built.value;
  if (auto refusals = proxy::swap_refusals(*runtime_, *next); !refusals.empty()) return refuse(400, refusals);

  // 3. Certificates of the listeners kept, read again (a renewed certificate under the same path): built
  // now, put in service with the rest below.
  auto certificates = proxy::prepare_certificates(next->listeners);
  if (!certificates.errors.empty()) return refuse(400, certificates.errors);

  // 4. Into service. The data plane checks again (swap_refusals) before it takes anything.
  try {
    publish_(next);
  } catch (const std::exception& e) {
    return refuse(500, {e.what()});
  }
  proxy::install_certificates(next->listeners, std::move(certificates));
  commit(next);
  config_status_.sha256 = sha256_hex(*text);
  config_status_.loaded_at = std::chrono::system_clock::now();
  ++config_status_.generation;
  ++config_status_.reloads_ok;
  result.generation = config_status_.generation;
  spdlog::info("config reloaded from {}: generation {} ({} upstream(s), {} route(s), {} listener(s))",
               config_status_.path, config_status_.generation, next->upstreams.size(), next->config.routes.size(),
               next->listeners.size());
  return result;
}

std::optional<std::string> control_plane::reopen_logs() {
  if (!publish_) return "this process has no data plane to reopen logs for";
  if (runtime_->config.access_log.path == "off" || runtime_->config.access_log.path == "-") return std::nullopt;
  auto built = proxy::build_runtime(runtime_->config, runtime_.get(), {.reopen_log = true});
  if (!built.value) return built.errors.front();
  try {
    publish_(built.value);
  } catch (const std::exception& e) {
    return e.what();
  }
  commit(built.value);
  spdlog::info("access log reopened: {}", runtime_->config.access_log.path);
  return std::nullopt;
}

void control_plane::commit(std::shared_ptr<const proxy::runtime> next) {
  const auto previous = std::exchange(runtime_, std::move(next));
  const auto& now = *runtime_;

  // Weights of the nodes that stayed (carry_nodes leaves them to this point, so that a reload refused
  // earlier changed nothing). Balancers read them at each pick.
  for (std::size_t u = 0; u < now.upstreams.size(); ++u)
    for (const auto& c : now.config.upstreams[u].nodes)
      if (const auto n = now.upstreams[u]->find(c.name); n && n->host_port() == c.address && n->weight() != c.weight)
        n->set_weight(c.weight);

  checker_.adopt(now.upstreams);
  drains_.adopt(now.upstreams);
  acme_->adopt();
  if (link_) {
    // Upstreams the reload added are read, watched and recorded from now on (consider_shared seeds them).
    std::vector<std::string> names;
    names.reserve(now.upstreams.size());
    for (const auto& g : now.upstreams) names.push_back(g->name());
    link_->set_upstreams(std::move(names));
  }
  // Nodes the new config left out (or moved to another address) drain in the upstream object they were in,
  // where requests that started on the previous runtime may still use them, and leave it once drained.
  const auto steady_now = std::chrono::steady_clock::now();
  for (const auto& old_group : previous->upstreams) {
    const auto kept = find_upstream(old_group->name());  // in runtime_, which is `now` already
    const auto staying = kept ? kept->nodes() : nullptr;
    for (const auto& n : *old_group->nodes()) {
      if (staying && std::find(staying->begin(), staying->end(), n) != staying->end()) continue;
      drains_.retire(old_group, n, steady_now, steady_now + now.config.timeouts.shutdown_grace);
    }
  }
  // The last reference to the previous runtime may go on a worker, but not the last one to its access log:
  // closing a log waits for its queue to be written (log_writer), which a worker must not (tick_loop).
  if (previous->log != now.log) retired_logs_.push_back(previous->log);
  if (previous->config.log_level != now.config.log_level) {
    spdlog::default_logger()->set_level(spdlog::level::from_str(now.config.log_level));
    spdlog::info("log level is now {}", now.config.log_level);
  }
  changed();  // the state file records nodes against the configured ones: save it under the new config
}

}  // namespace drawbridge::admin
