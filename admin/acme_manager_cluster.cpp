// acme_manager in a cluster: the certificate another replica stored, and the challenges the replicas
// announce to each other (see acme_manager.hpp).

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "acme/acme_client.hpp"
#include "acme/jws.hpp"
#include "acme/sealed.hpp"
#include "admin/acme_manager.hpp"
#include "tls/certificate.hpp"

namespace drawbridge::admin {

namespace net = boost::asio;
using net_types::task;
using std::chrono::system_clock;

namespace {

// Cluster mode: other replicas' challenges answered here, at most, and for how long at most.
constexpr std::size_t max_remote_challenges = 64;
constexpr std::chrono::minutes remote_challenge_lifetime{10};
// The name announcements are sealed under (additional authenticated data).
constexpr std::string_view challenge_name = "acme-challenge";

}  // namespace

// Announcements are sealed like the certificates: whoever can publish on Redis cannot have the replicas
// answer a challenge of theirs.
void acme_manager::announce_challenge(const nlohmann::json& challenge) {
  if (!link_) return;
  std::string error;
  const auto key = acme::read_sealing_key(key_file_, error);
  if (!key) return;
  link_->announce(
      {{"acme_challenge", acme::seal(*key, challenge_name, challenge.dump())}, {"from", link_->instance()}});
}

void acme_manager::take_announcement(const nlohmann::json& message) {
  const auto sealed = message.find("acme_challenge");
  const auto from = message.find("from");
  if (sealed == message.end() || !sealed->is_string() || !link_ || stopped_) return;
  if (from != message.end() && from->is_string() && from->get<std::string>() == link_->instance()) return;  // ours
  std::string error;
  const auto key = acme::read_sealing_key(key_file_, error);
  const auto opened = key ? acme::unseal(*key, challenge_name, sealed->get<std::string>()) : std::nullopt;
  if (!opened) {
    spdlog::warn("acme: an ACME challenge announced in the cluster does not open with cluster.acme_key_file: ignored");
    return;
  }
  const auto c = nlohmann::json::parse(*opened, nullptr, false);
  if (!c.is_object()) return;
  const auto text = [&](const char* name) {
    const auto found = c.find(name);
    return found != c.end() && found->is_string() ? found->get<std::string>() : std::string();
  };
  const auto type = text("type"), name = text("name"), token = text("token");
  // Only for a name one of our ACME listeners orders, in the shapes the CA uses.
  bool ours = false;
  for (const auto& l : listeners_())
    if (l->config.tls && l->config.tls->acme) {
      const auto& domains = l->config.tls->acme->domains;
      ours = ours || std::find(domains.begin(), domains.end(), name) != domains.end();
    }
  const bool token_ok =
      !token.empty() && token.size() <= 128 &&
      token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == std::string::npos;
  if (!ours || !token_ok || (type != "http-01" && type != "tls-alpn-01")) return;
  const auto id = type + " " + (type == "http-01" ? token : name);
  if (text("op") == "remove") {
    if (const auto found = remote_.find(id); found != remote_.end()) {
      found->second->cancel();
      remote_.erase(found);
      withdraw(type, name, token, false);
    }
    return;
  }
  const auto key_authorization = text("key_authorization");
  if (text("op") != "add" || key_authorization.rfind(token + ".", 0) != 0 || key_authorization.size() > 256) return;
  if (remote_.size() >= max_remote_challenges && !remote_.contains(id)) {
    spdlog::warn("acme: {} challenges from other replicas open already: {} for {} ignored", remote_.size(), type, name);
    return;
  }
  try {
    publish(type, name, token, key_authorization, false);
  } catch (const std::exception& e) {
    spdlog::warn("acme: cannot answer another replica's challenge for {}: {}", name, e.what());
    return;
  }
  // Withdrawn by its orderer's announcement, or after remote_challenge_lifetime whatever happens (a
  // withdrawal missed, an orderer gone).
  auto& timer = remote_[id];
  if (timer) timer->cancel();
  timer = std::make_shared<net_types::timer>(io_.get_executor());
  timer->expires_after(remote_challenge_lifetime);
  timer->async_wait([this, timer, id, type, name, token](boost::system::error_code ec) {
    if (ec) return;  // cancelled: withdrawn already, or stopping
    if (const auto found = remote_.find(id); found != remote_.end() && found->second == timer) {
      remote_.erase(found);
      withdraw(type, name, token, false);
    }
  });
}

task<std::optional<std::string>> acme_manager::shared_certificate(const conf::acme_config& acme,
                                                                  const proxy::listener& l) {
  std::string error;
  const auto key = acme::read_sealing_key(key_file_, error);
  if (!key) throw acme::acme_failure(acme::acme_failure::kind::refused, "cluster.acme_key_file: " + error);
  const auto name = link_->shared_key("acme:certificate:" + acme.domains.front());
  auto get = cluster::command("GET", name);
  const auto stored = co_await link_->call(std::move(get));
  if (!stored || stored->kind != cluster::reply::type::string) co_return std::nullopt;
  auto pem = acme::unseal(*key, name, stored->text);
  if (!pem) {
    spdlog::warn("acme: {} in Redis does not open with cluster.acme_key_file (another key?): ignored", name);
    co_return std::nullopt;
  }
  auto parsed = tls::parse_certificate(*pem, *pem, name, name, error);
  if (!parsed) co_return std::nullopt;
  const auto now = system_clock::now();
  const bool covers = std::all_of(acme.domains.begin(), acme.domains.end(), [&](const std::string& d) {
    return std::find(parsed->names.begin(), parsed->names.end(), d) != parsed->names.end();
  });
  if (!covers || parsed->not_after - acme.renew_before <= now) co_return std::nullopt;  // not better than ordering
  if (const auto contexts = l.current_contexts())
    for (const auto& s : contexts->certificates())
      if (s.source == "acme" && s.not_after >= parsed->not_after) co_return std::nullopt;  // ours is as new
  co_return pem;
}

}  // namespace drawbridge::admin
