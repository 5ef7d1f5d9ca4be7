#include "acme/acme_client.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/this_coro.hpp>
#include <cctype>
#include <ctime>
#include <memory>
#include <utility>

#include "acme/jws.hpp"
#include "tls/certificate.hpp"
#include "tls/self_signed.hpp"

namespace drawbridge::acme {

namespace http = boost::beast::http;
using net_types::task;
using net_types::use_tuple;
using nlohmann::json;

namespace {

constexpr const char* jose = "application/jose+json";
// Named, for post(): a POST-as-GET's empty payload (RFC 8555 §6.3), and no Accept.
const std::string as_get;
const std::string no_accept;

// Retry-After (RFC 9110 §10.2.3): seconds, or an HTTP date.
std::optional<std::chrono::seconds> retry_after_of(const https_reply& reply) {
  const std::string value = reply.header("retry-after");
  if (value.empty()) return std::nullopt;
  if (value.find_first_not_of("0123456789") == std::string::npos && value.size() < 10)
    return std::chrono::seconds(std::stoll(value));
  std::tm tm{};
  if (const char* end = strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm); end && *end == '\0') {
    const auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
    const auto wait = std::chrono::duration_cast<std::chrono::seconds>(at - std::chrono::system_clock::now());
    return std::max(wait, std::chrono::seconds(0));
  }
  return std::nullopt;
}

// An error answer as a failure: the problem document's type and detail when there is one (RFC 8555 §6.7).
acme_failure failure_of(const https_reply& reply, const std::string& doing) {
  const auto problem = json::parse(reply.body, nullptr, false);
  std::string type, detail;
  if (problem.is_object()) {
    type = problem.value("type", "");
    detail = problem.value("detail", "");
  }
  std::string message = doing + ": the CA answered " + std::to_string(reply.status);
  if (!type.empty()) message += " " + type;
  if (!detail.empty()) message += ": " + detail;
  // A 5xx is the CA's trouble (serverInternal, a maintenance page), not a verdict on us: retried soon. A 4xx
  // (rateLimited, badNonce, invalidContact, unauthorized) is a refusal.
  const bool refused = reply.status >= 400 && reply.status < 500;
  return acme_failure(refused ? acme_failure::kind::refused : acme_failure::kind::unreachable, message,
                      retry_after_of(reply), type);
}

json parse_object(const https_reply& reply, const std::string& doing) {
  auto object = json::parse(reply.body, nullptr, false);
  if (!object.is_object())
    throw acme_failure(acme_failure::kind::unreachable, doing + ": the CA's answer is not a JSON object");
  return object;
}

std::string string_member(const json& object, const char* name, const std::string& doing) {
  const auto found = object.find(name);
  if (found == object.end() || !found->is_string())
    throw acme_failure(acme_failure::kind::unreachable, doing + ": the CA's answer has no \"" + name + "\"");
  return found->get<std::string>();
}

std::string still_after(const std::string& url, const std::string& status) {
  std::string message = url;
  message.append(": still ").append(status).append(" after ").append(std::to_string(acme_client::settle_limit.count()));
  return message.append(" s");
}

// The request bodies, built outside the coroutines (g++ 12 cannot compile braced JSON initializers in one).
std::string new_order_payload(const std::vector<std::string>& domains) {
  json identifiers = json::array();
  for (const auto& d : domains) identifiers.push_back({{"type", "dns"}, {"value", d}});
  return json{{"identifiers", identifiers}}.dump();
}

std::string finalize_payload(const std::string& csr_der) { return json{{"csr", base64url(csr_der)}}.dump(); }

std::string new_account_payload(const order_request& order, EVP_PKEY* account_key, const std::string& url) {
  json payload{{"termsOfServiceAgreed", true}};
  if (!order.email.empty()) payload["contact"] = json::array({"mailto:" + order.email});
  if (order.eab) {
    auto binding = external_account_binding(account_key, order.eab->kid, order.eab->hmac_key, url);
    if (!binding)
      throw acme_failure(acme_failure::kind::refused, "eab.hmac_key: not a base64url key: the account cannot be bound");
    payload["externalAccountBinding"] = std::move(*binding);
  }
  return payload.dump();
}

json signed_header(const std::string& nonce, const std::string& url, const std::string& kid, EVP_PKEY* key) {
  json header{{"alg", "ES256"}, {"nonce", nonce}, {"url", url}};
  if (kid.empty())
    header["jwk"] = public_jwk(key);
  else
    header["kid"] = kid;
  return header;
}

net_types::task<void> sleep_for(std::chrono::milliseconds d) {
  net_types::timer timer(co_await boost::asio::this_coro::executor);
  timer.expires_after(d);
  co_await timer.async_wait(use_tuple);
}

}  // namespace

std::string make_csr(EVP_PKEY* key, const std::vector<std::string>& domains) {
  std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(X509_REQ_new(), X509_REQ_free);
  bool ok = req && X509_REQ_set_version(req.get(), 0) == 1;
  X509_NAME* subject = req ? X509_REQ_get_subject_name(req.get()) : nullptr;
  ok =
      ok && X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(domains.front().c_str()), -1, -1, 0) == 1;
  std::string san;
  for (const auto& d : domains) san += (san.empty() ? "DNS:" : ",DNS:") + d;
  STACK_OF(X509_EXTENSION)* extensions = sk_X509_EXTENSION_new_null();
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  ok = ok && extensions && ext && sk_X509_EXTENSION_push(extensions, ext) > 0;
  if (ok) ext = nullptr;  // the stack owns it
  ok = ok && X509_REQ_add_extensions(req.get(), extensions) == 1;
  sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
  X509_EXTENSION_free(ext);
  ok = ok && X509_REQ_set_pubkey(req.get(), key) == 1 && X509_REQ_sign(req.get(), key, EVP_sha256()) > 0;
  unsigned char* der = nullptr;
  const int size = ok ? i2d_X509_REQ(req.get(), &der) : -1;
  if (size <= 0) {
    ERR_clear_error();
    throw std::runtime_error("cannot make the certificate request");
  }
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  return out;
}

acme_client::acme_client(boost::asio::ssl::context& trust, std::string directory_url, EVP_PKEY* account_key)
    : trust_(trust), directory_url_(std::move(directory_url)), account_key_(account_key) {}

std::string acme_client::endpoint(const char* name) const { return string_member(directory_, name, "the directory"); }

task<void> acme_client::load_directory() {
  const https_request get{.url = directory_url_};
  const auto reply = co_await fetch(trust_, get, request_timeout);
  if (!reply.error.empty())
    throw acme_failure(acme_failure::kind::unreachable, "the directory " + directory_url_ + ": " + reply.error);
  if (reply.status != 200) throw failure_of(reply, "the directory " + directory_url_);
  directory_ = parse_object(reply, "the directory");
  endpoint("newNonce");
  endpoint("newAccount");
  endpoint("newOrder");
}

task<std::string> acme_client::fresh_nonce() {
  const https_request head{.method = http::verb::head, .url = endpoint("newNonce")};
  const auto reply = co_await fetch(trust_, head, request_timeout);
  if (!reply.error.empty()) throw acme_failure(acme_failure::kind::unreachable, "a new nonce: " + reply.error);
  auto nonce = reply.header("replay-nonce");
  if (nonce.empty()) throw acme_failure(acme_failure::kind::unreachable, "a new nonce: none in the CA's answer");
  co_return nonce;
}

task<https_reply> acme_client::post(const std::string& url, const std::string& payload, const std::string& accept) {
  // RFC 8555 §6.5: a badNonce answer carries a fresh nonce; a few tries, then it is the CA's problem.
  for (int attempt = 0;; ++attempt) {
    if (nonce_.empty()) nonce_ = co_await fresh_nonce();
    const auto body = sign_es256(account_key_, signed_header(nonce_, url, kid_, account_key_), payload).dump();
    nonce_.clear();  // used
    const https_request request{
        .method = http::verb::post, .url = url, .body = body, .content_type = jose, .accept = accept};
    auto reply = co_await fetch(trust_, request, request_timeout);
    if (!reply.error.empty()) throw acme_failure(acme_failure::kind::unreachable, url + ": " + reply.error);
    nonce_ = reply.header("replay-nonce");
    if (reply.status < 400) co_return reply;
    auto failure = failure_of(reply, url);
    if (failure.problem_type != "urn:ietf:params:acme:error:badNonce" || attempt >= 4) throw failure;
  }
}

task<void> acme_client::register_account(const order_request& order) {
  const auto url = endpoint("newAccount");
  const auto payload = new_account_payload(order, account_key_, url);
  kid_.clear();
  const auto reply = co_await post(url, payload, no_accept);
  kid_ = reply.header("location");
  if (kid_.empty()) throw acme_failure(acme_failure::kind::unreachable, "newAccount: the CA sent no account URL");
}

task<json> acme_client::await_settled(const std::string& url) {
  const auto deadline = std::chrono::steady_clock::now() + settle_limit;
  for (;;) {
    const auto reply = co_await post(url, as_get, no_accept);
    auto object = parse_object(reply, url);
    const auto status = object.value("status", "");
    if (status != "pending" && status != "processing") co_return object;
    if (std::chrono::steady_clock::now() >= deadline)
      throw acme_failure(acme_failure::kind::refused, still_after(url, status));
    // As the CA asks (RFC 8555 §7.5.1), within reason.
    auto wait = std::chrono::milliseconds(500);
    if (const auto asked = retry_after_of(reply))
      wait = std::clamp<std::chrono::milliseconds>(*asked, std::chrono::milliseconds(200), std::chrono::seconds(10));
    co_await sleep_for(wait);
  }
}

task<void> acme_client::authorize(const std::string& authorization_url, const std::string& challenge_type,
                                  const std::vector<std::string>& domains, const challenge_hooks& hooks) {
  const auto reply = co_await post(authorization_url, as_get, no_accept);
  const auto authorization = parse_object(reply, authorization_url);
  const auto status = authorization.value("status", "");
  if (status == "valid") co_return;  // validated recently (the CA reuses authorizations)
  auto name = authorization.contains("identifier") && authorization["identifier"].is_object()
                  ? authorization["identifier"].value("value", "")
                  : std::string();
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // The CA names what it wants proved: it must be one of ours (it decides which name the challenge
  // certificate, or the token, answers for).
  if (std::find(domains.begin(), domains.end(), name) == domains.end())
    throw acme_failure(acme_failure::kind::unreachable, "the CA asks to authorize \"" + name + "\", not in the order");
  if (status != "pending")
    throw acme_failure(acme_failure::kind::refused, "the authorization for " + name + " is " + status);
  const json* chosen = nullptr;
  if (authorization.contains("challenges") && authorization["challenges"].is_array())
    for (const auto& c : authorization["challenges"])
      if (c.is_object() && c.value("type", "") == challenge_type) chosen = &c;
  if (!chosen)
    throw acme_failure(acme_failure::kind::refused,
                       "the CA offers no " + challenge_type + " challenge for " + name + " (configure another)");
  const auto token = string_member(*chosen, "token", "the challenge");
  const auto url = string_member(*chosen, "url", "the challenge");
  if (token.empty() ||
      token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != std::string::npos)
    throw acme_failure(acme_failure::kind::unreachable, "the challenge for " + name + " has a malformed token");

  // Published before the CA is told to look, withdrawn whatever happens next.
  hooks.publish(name, token, token + "." + jwk_thumbprint(account_key_));
  struct withdraw_on_exit {
    const challenge_hooks& hooks;
    const std::string& name;
    const std::string& token;
    ~withdraw_on_exit() { hooks.withdraw(name, token); }
  } guard{hooks, name, token};
  if (hooks.settle.count() > 0) co_await sleep_for(hooks.settle);
  const std::string go = "{}";
  co_await post(url, go, no_accept);
  const auto settled = co_await await_settled(authorization_url);
  if (settled.value("status", "") != "valid") {
    std::string why = "the authorization for " + name + " is " + settled.value("status", "?");
    // The failed challenge carries the CA's reason (RFC 8555 §8: its "error" problem).
    if (settled.contains("challenges") && settled["challenges"].is_array())
      for (const auto& c : settled["challenges"])
        if (c.is_object() && c.value("type", "") == challenge_type && c.contains("error") && c["error"].is_object())
          why += ": " + c["error"].value("type", "") + ": " + c["error"].value("detail", "");
    throw acme_failure(acme_failure::kind::refused, why);
  }
}

task<issued_certificate> acme_client::obtain(const order_request& order, const challenge_hooks& hooks) {
  co_await load_directory();
  co_await register_account(order);

  const auto new_order = endpoint("newOrder");
  const auto order_payload = new_order_payload(order.domains);
  const auto created = co_await post(new_order, order_payload, no_accept);
  order_placed_ = true;
  const auto order_url = created.header("location");
  auto object = parse_object(created, "newOrder");
  if (order_url.empty()) throw acme_failure(acme_failure::kind::unreachable, "newOrder: the CA sent no order URL");
  if (object.contains("authorizations") && object["authorizations"].is_array())
    for (const auto& a : object["authorizations"])
      if (a.is_string()) {
        const auto authorization = a.get<std::string>();
        co_await authorize(authorization, order.challenge, order.domains, hooks);
      }

  // A fresh key for every certificate: a renewal never reuses the key the old one exposed.
  auto key = tls::new_p256_key();
  const auto csr = make_csr(key.get(), order.domains);
  const auto finalize = string_member(object, "finalize", "the order");
  const auto finalize_body = finalize_payload(csr);
  co_await post(finalize, finalize_body, no_accept);
  object = co_await await_settled(order_url);
  if (object.value("status", "") != "valid")
    throw acme_failure(acme_failure::kind::refused, "the order is " + object.value("status", "?") +
                                                        (object.contains("error") && object["error"].is_object()
                                                             ? ": " + object["error"].value("detail", "")
                                                             : std::string()));
  const auto certificate_url = string_member(object, "certificate", "the order");
  const std::string pem_chain = "application/pem-certificate-chain";
  const auto download = co_await post(certificate_url, as_get, pem_chain);

  issued_certificate issued{download.body, tls::key_to_pem(key.get())};
  std::string error;
  const auto parsed = tls::parse_certificate(issued.chain_pem, issued.key_pem, "the issued chain", "its key", error);
  if (!parsed) throw acme_failure(acme_failure::kind::unreachable, error);
  for (const auto& d : order.domains)
    if (std::none_of(parsed->names.begin(), parsed->names.end(), [&](const std::string& n) { return n == d; }))
      throw acme_failure(acme_failure::kind::unreachable, "the issued certificate does not name " + d);
  co_return issued;
}

}  // namespace drawbridge::acme
