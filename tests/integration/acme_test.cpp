// Automatic certificates against Pebble (a test-only ACME server, started by each test on 127.0.0.1 with
// its own CA; its DNS answers every name with 127.0.0.1, so it validates against the proxy's listeners):
// HTTP-01 and TLS-ALPN-01 orders complete and the listener serves the issued certificate; a placeholder
// until then (the CA down at start-up); a forced renewal swaps the certificate under an open keep-alive
// connection; a restart reuses what is stored; a refused account or order is logged and backs off.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/support/fake_node.hpp"
#include "tests/support/free_port.hpp"
#include "tests/support/pebble_server.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/scratch_dir.hpp"
#include "tests/support/test_client.hpp"
#include "tests/support/tls_client.hpp"
#include "tests/support/wait.hpp"

using namespace drawbridge;
using namespace drawbridge::testing;
namespace http = boost::beast::http;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A proxy with a plain listener (where Pebble's HTTP-01 validator connects: a port chosen beforehand, so
// that Pebble can be told it) and an ACME TLS listener on port 0, and the admin API.
class acme_proxy {
 public:
  acme_proxy(pebble_server& pebble, const std::string& challenge, std::vector<std::string> domains,
             const std::string& storage, std::string email = "ops@example.com")
      : node_({"n"}), plain_port_(free_port()) {
    auto config = admin_test_config({node_.port()}, false);
    config.listeners[0].address.port = plain_port_;
    config.listeners[0].redirect_https = true;  // challenges are answered before the redirect
    conf::listener_tls_config tls;
    conf::acme_config acme;
    acme.directory = pebble.directory_url();
    acme.email = std::move(email);
    acme.domains = std::move(domains);
    acme.challenge = challenge;
    acme.storage = storage;
    acme.ca_file = pebble.ca_file();
    tls.acme = acme;
    config.listeners.push_back({conf::host_port{"127.0.0.1", 0}, false, tls});
    proxy_ = std::make_unique<proxy_under_test>(std::move(config));
    pebble.set_validation_ports(plain_port_, tls_port());
  }

  std::uint16_t plain_port() const { return plain_port_; }
  std::uint16_t tls_port() const { return proxy_->server().endpoints().at(1).port(); }
  std::uint16_t admin_port() const { return proxy_->admin_port(); }
  proxy_under_test& proxy() { return *proxy_; }

  json tls_status() const {
    test_client admin(admin_port());
    const auto res = admin.get("/v1/tls");
    return res.status == 200 ? json::parse(res.body) : json();
  }
  // The source of the certificate the ACME listener serves ("placeholder", "acme").
  std::string source() const {
    const auto status = tls_status();
    for (const auto& l : status.value("listeners", json::array()))
      if (l.contains("acme")) return l["certificates"].back().value("source", "");
    return {};
  }
  json acme_state() const {
    for (const auto& l : tls_status().value("listeners", json::array()))
      if (l.contains("acme")) return l["acme"];
    return {};
  }
  unsigned renew() const {
    test_client admin(admin_port());
    return admin.request(http::verb::post, "/v1/tls/renew").status;
  }

 private:
  fake_node node_;
  std::uint16_t plain_port_;
  std::unique_ptr<proxy_under_test> proxy_;
};

// A handshake for `name` verified against Pebble's current root.
tls_options verified(pebble_server& pebble, const std::string& name) {
  return {.sni = name, .ca_file = pebble.root_file()};
}

// Seconds since the epoch of a time as /v1/tls writes it ("2026-12-07T09:13:23.000Z").
std::int64_t unix_of(const std::string& utc) {
  std::tm tm{};
  if (!strptime(utc.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

// One sample of a /metrics scrape, by its series as written ("name{label=\"v\"}"); -1 when absent.
double sample(std::uint16_t admin_port, const std::string& series) {
  test_client admin(admin_port);
  const auto text = admin.get("/metrics").body;
  const auto at = text.find("\n" + series + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + series.size() + 2));
}

// One replica of an ACME cluster as the real binary runs it: a plain listener on `plain` (where a CA may
// validate), an ACME TLS listener on port 0, the admin API, and the cluster over `redis`.
struct replica_settings {
  std::string name;
  std::uint16_t plain;
  std::string directory;
  std::string domain;
  std::string storage;
  pebble_server& pebble;
  redis_server& redis;
  std::string key_file;
  std::uint16_t node_port;
};

std::string replica_config(const replica_settings& r) {
  const json config{
      {"listeners",
       {{{"address", "127.0.0.1:" + std::to_string(r.plain)}},
        {{"address", "127.0.0.1:0"},
         {"tls",
          {{"acme",
            {{"directory", r.directory},
             {"domains", {r.domain}},
             {"storage", r.storage},
             {"ca_file", r.pebble.ca_file()}}}}}}}},
      {"admin", {{"address", "127.0.0.1:0"}}},
      {"access_log", {{"path", "off"}}},
      {"cluster",
       {{"redis", r.redis.url()},
        {"name", "acme"},
        {"replica", r.name},
        {"heartbeat", "200ms"},
        {"acme_key_file", r.key_file}}},
      {"upstreams",
       {{{"name", "app"}, {"nodes", {{{"name", "n"}, {"address", "127.0.0.1:" + std::to_string(r.node_port)}}}}}}}};
  return config.dump();
}

json acme_view(const spawned_proxy& p) {
  test_client admin(p.admin_port());
  const auto res = admin.get("/v1/tls");
  return res.status == 200 ? json::parse(res.body)["listeners"][0] : json();
}

bool private_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && (st.st_mode & 0777) == 0600;
}

}  // namespace

// Pebble is not running when the proxy starts: the listener serves a placeholder (and /readyz says so);
// once Pebble is up the retry orders by HTTP-01, on a plain listener that redirects everything else to
// HTTPS, and the listener serves the issued chain, which verifies against Pebble's root.
TEST(acme, an_http01_order_completes_once_the_ca_comes_up_and_a_placeholder_is_served_until_then) {
  pebble_server pebble;
  scratch_dir storage;
  acme_proxy p(pebble, "http-01", {"appsmith.test", "www.appsmith.test"}, storage.path());

  EXPECT_EQ(p.source(), "placeholder");
  {
    tls_client placeholder(p.tls_port(), {.sni = "appsmith.test"});
    ASSERT_TRUE(placeholder.connected()) << placeholder.error();
    EXPECT_EQ(placeholder.peer_subject(), placeholder.peer_issuer());  // self-signed
    EXPECT_EQ(placeholder.peer_subject(), "/CN=appsmith.test");
  }
  test_client admin(p.admin_port());
  const auto ready = admin.get("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(json::parse(ready.body)["tls_placeholder"], json::array({"127.0.0.1:0"}));
  // The CA is unreachable: counted as such, retried within seconds.
  ASSERT_TRUE(wait_for([&] { return p.acme_state().value("failures", 0) >= 1; }, 10s)) << p.tls_status().dump();
  EXPECT_NE(p.acme_state().value("last_error", "").find("cannot connect"), std::string::npos) << p.tls_status();

  ASSERT_TRUE(pebble.start()) << pebble.error();
  ASSERT_TRUE(wait_for([&] { return p.source() == "acme"; }, 30s)) << p.tls_status().dump() << pebble.log();

  tls_client issued(p.tls_port(), verified(pebble, "www.appsmith.test"));
  ASSERT_TRUE(issued.connected()) << issued.error();
  EXPECT_NE(issued.peer_issuer().find("Pebble"), std::string::npos) << issued.peer_issuer();
  EXPECT_EQ(issued.get("/").status, 200);
  EXPECT_FALSE(json::parse(admin.get("/readyz").body).contains("tls_placeholder"));
  EXPECT_TRUE(private_file(storage.file("appsmith.test.pem")));
  EXPECT_TRUE(private_file(storage.file("account.key")));
  const auto state = p.acme_state();
  EXPECT_EQ(state["failures"], 0);
  EXPECT_FALSE(state.contains("last_error"));

  EXPECT_EQ(sample(p.admin_port(), R"(drawbridge_acme_orders_total{result="ok"})"), 1);
  EXPECT_GE(sample(p.admin_port(), R"(drawbridge_acme_orders_total{result="unreachable"})"), 1);
  // The challenge is withdrawn once decided: the token path is 404 now, not forwarded to a node.
  test_client plain(p.plain_port());
  EXPECT_EQ(plain.get("/.well-known/acme-challenge/abc").status, 404);
  EXPECT_EQ(plain.get("/app").status, 308);
}

// TLS-ALPN-01; and a client offering "acme-tls/1" when no validation is open gets no such protocol and
// the certificate in service.
TEST(acme, a_tls_alpn01_order_completes_and_only_a_validation_gets_the_challenge_certificate) {
  pebble_server pebble;
  scratch_dir storage;
  acme_proxy p(pebble, "tls-alpn-01", {"alpn.test"}, storage.path());
  ASSERT_TRUE(pebble.start()) << pebble.error();
  ASSERT_EQ(p.renew(), 202);  // no need to wait for the retry
  ASSERT_TRUE(wait_for([&] { return p.source() == "acme"; }, 30s)) << p.tls_status().dump() << pebble.log();

  tls_client issued(p.tls_port(), verified(pebble, "alpn.test"));
  ASSERT_TRUE(issued.connected()) << issued.error();
  EXPECT_NE(issued.peer_issuer().find("Pebble"), std::string::npos);
  EXPECT_EQ(issued.alpn(), "http/1.1");
  EXPECT_EQ(issued.get("/").status, 200);

  auto posing = verified(pebble, "alpn.test");
  posing.offer_alpn = "acme-tls/1";
  tls_client not_a_validation(p.tls_port(), posing);
  ASSERT_TRUE(not_a_validation.connected()) << not_a_validation.error();
  EXPECT_EQ(not_a_validation.alpn(), "");
  EXPECT_EQ(not_a_validation.peer_serial(), issued.peer_serial());
}

// A renewal asked for now (POST /v1/tls/renew) puts a new certificate in service: new handshakes get it,
// and a keep-alive connection opened before goes on with the one it has. Pebble rejects 30% of good
// nonces here, which both orders get through.
TEST(acme, a_forced_renewal_swaps_the_certificate_while_a_keep_alive_connection_stays_open) {
  pebble_server pebble;
  pebble.set_nonce_rejection(30);  // badNonce on purpose: the client retries with the nonce it got
  scratch_dir storage;
  acme_proxy p(pebble, "http-01", {"appsmith.test"}, storage.path());
  ASSERT_TRUE(pebble.start()) << pebble.error();
  ASSERT_EQ(p.renew(), 202);
  ASSERT_TRUE(wait_for([&] { return p.source() == "acme"; }, 30s)) << p.tls_status().dump();

  tls_client before(p.tls_port(), verified(pebble, "appsmith.test"));
  ASSERT_TRUE(before.connected()) << before.error();
  ASSERT_EQ(before.get("/").status, 200);
  const auto first = before.peer_serial();

  ASSERT_EQ(p.renew(), 202);
  ASSERT_TRUE(wait_for(
      [&] {
        tls_client now(p.tls_port(), verified(pebble, "appsmith.test"));
        return now.connected() && now.peer_serial() != first;
      },
      30s))
      << p.tls_status().dump();
  EXPECT_EQ(before.get("/").status, 200);  // the same connection, still open
  EXPECT_EQ(before.peer_serial(), first);
  EXPECT_EQ(sample(p.admin_port(), R"(drawbridge_acme_orders_total{result="ok"})"), 2);
}

// What is stored serves at once after a restart, with no order (the CA is not even running).
TEST(acme, a_restart_serves_the_stored_certificate_without_ordering) {
  pebble_server pebble;
  scratch_dir storage;
  std::string serial;
  {
    acme_proxy p(pebble, "http-01", {"appsmith.test"}, storage.path());
    ASSERT_TRUE(pebble.start()) << pebble.error();
    ASSERT_EQ(p.renew(), 202);
    ASSERT_TRUE(wait_for([&] { return p.source() == "acme"; }, 30s)) << p.tls_status().dump();
    tls_client c(p.tls_port(), verified(pebble, "appsmith.test"));
    ASSERT_TRUE(c.connected()) << c.error();
    serial = c.peer_serial();
  }
  const auto root = pebble.root_file();
  pebble.stop();
  acme_proxy again(pebble, "http-01", {"appsmith.test"}, storage.path());
  EXPECT_EQ(again.source(), "acme");
  tls_client c(again.tls_port(), {.sni = "appsmith.test", .ca_file = root});
  ASSERT_TRUE(c.connected()) << c.error();
  EXPECT_EQ(c.peer_serial(), serial);
  const auto state = again.acme_state();
  EXPECT_EQ(state["failures"], 0);
  EXPECT_GT(state.value("next_renewal", ""), "2030");  // Pebble's certificates last five years
}

// The CA fails the validation (the name resolves to an address where nothing listens): the order is
// refused, the listener keeps its placeholder, and the next order waits at least an hour; asking for one
// now is refused with 429 until then.
TEST(acme, a_failed_validation_backs_off_for_at_least_an_hour) {
  pebble_server pebble;
  scratch_dir storage;
  auto proxy =
      std::make_unique<acme_proxy>(pebble, "http-01", std::vector<std::string>{"elsewhere.test"}, storage.path());
  auto& p = *proxy;
  ASSERT_TRUE(pebble.start()) << pebble.error();
  ASSERT_TRUE(pebble.add_a_record("elsewhere.test", "127.0.0.2"));
  ASSERT_EQ(p.renew(), 202);
  ASSERT_TRUE(wait_for([&] { return p.acme_state().contains("last_order"); }, 30s)) << p.tls_status().dump();
  const auto state = p.acme_state();
  EXPECT_NE(state.value("last_error", "").find("elsewhere.test"), std::string::npos) << state;
  EXPECT_GE(unix_of(state.value("next_renewal", "")) - unix_of(state.value("last_order", "")), 3600) << state;
  EXPECT_EQ(p.source(), "placeholder");
  EXPECT_EQ(p.renew(), 429);
  EXPECT_EQ(sample(p.admin_port(), R"(drawbridge_acme_orders_total{result="refused"})"), 1);

  // A restart within the hour does not order again: the failed order is noted under storage.
  proxy.reset();
  acme_proxy again(pebble, "http-01", {"elsewhere.test"}, storage.path());
  EXPECT_EQ(again.renew(), 429);
  ASSERT_TRUE(wait_for([&] { return again.acme_state().contains("next_renewal"); }, 5s));
  const auto later = again.acme_state();
  EXPECT_GE(unix_of(later.value("next_renewal", "")) - unix_of(state.value("last_order", "")), 3590) << later;
  EXPECT_EQ(sample(again.admin_port(), R"(drawbridge_acme_orders_total{result="refused"})"), 0);
}

// A CA that wants External Account Binding gets it from acme.eab.
TEST(acme, an_account_is_bound_with_eab_when_the_ca_requires_it) {
  pebble_server pebble;
  pebble.require_eab({{"kid-1", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"}});
  scratch_dir storage;
  fake_node node({"n"});
  // One TLS listener (TLS-ALPN-01 needs no plain one), its config built here for the eab block.
  auto config = admin_test_config({node.port()}, false);
  conf::listener_tls_config tls;
  conf::acme_config acme;
  acme.directory = pebble.directory_url();
  acme.domains = {"eab.test"};
  acme.challenge = "tls-alpn-01";
  acme.storage = storage.path();
  acme.ca_file = pebble.ca_file();
  acme.eab = conf::acme_eab_config{"kid-1", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"};
  tls.acme = acme;
  config.listeners[0].tls = tls;
  proxy_under_test proxy(std::move(config));
  pebble.set_validation_ports(free_port(), proxy.port());
  ASSERT_TRUE(pebble.start()) << pebble.error();
  test_client admin(proxy.admin_port());
  ASSERT_EQ(admin.request(http::verb::post, "/v1/tls/renew").status, 202);
  ASSERT_TRUE(wait_for(
      [&] {
        const auto status = json::parse(admin.get("/v1/tls").body);
        return status["listeners"][0]["certificates"][0]["source"] == "acme";
      },
      30s))
      << admin.get("/v1/tls").body;
}

// The real binary: a contact the CA refuses gives one clear log line naming the problem, and the next
// order an hour later.
TEST(acme, a_refused_email_is_logged_and_backs_off) {
  pebble_server pebble;
  scratch_dir storage;
  fake_node node({"n"});
  const auto tls_port = free_port();
  pebble.set_validation_ports(free_port(), tls_port);
  ASSERT_TRUE(pebble.start()) << pebble.error();
  const json config{
      {"listeners",
       {{{"address", "127.0.0.1:0"}},
        {{"address", "127.0.0.1:" + std::to_string(tls_port)},
         {"tls",
          {{"acme",
            {{"directory", pebble.directory_url()},
             {"email", "ops.@example.com"},
             {"domains", {"appsmith.test"}},
             {"challenge", "tls-alpn-01"},
             {"storage", storage.path()},
             {"ca_file", pebble.ca_file()}}}}}}}},
      {"admin", {{"address", "127.0.0.1:0"}}},
      {"access_log", {{"path", "off"}}},
      {"upstreams",
       {{{"name", "app"}, {"nodes", {{{"name", "n"}, {"address", "127.0.0.1:" + std::to_string(node.port())}}}}}}}};
  spawned_proxy proxy(config.dump());
  ASSERT_TRUE(proxy.started()) << proxy.output();
  ASSERT_TRUE(wait_for([&] { return proxy.log().find("invalidContact") != std::string::npos; }, 20s)) << proxy.log();
  const auto log = proxy.log();
  EXPECT_NE(log.find("contact email \"ops.@example.com\" is invalid"), std::string::npos) << log;
  EXPECT_NE(log.find("next attempt at"), std::string::npos) << log;
  EXPECT_NE(log.find("no ACME certificate for appsmith.test yet: serving a self-signed placeholder"), std::string::npos)
      << log;
  test_client admin(proxy.admin_port());
  const auto status = json::parse(admin.get("/v1/tls").body);
  EXPECT_EQ(status["listeners"][0]["acme"]["failures"], 1) << status;
  const auto next = unix_of(status["listeners"][0]["acme"].value("next_renewal", ""));
  EXPECT_GE(next - std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()), 3500) << status;
  EXPECT_EQ(status["listeners"][0]["certificates"][0]["source"], "placeholder");
}

// Two replicas sharing Redis (cluster mode), each with its own storage, as on two hosts. Only A can reach
// the CA; the CA validates on B's plain listener, as a load balancer may send it there. A orders, holding
// the lock; B answers the challenge A announced; the certificate reaches B through Redis, sealed (no key in
// the clear there); one order in all.
TEST(acme, two_replicas_share_one_order_and_its_challenge_through_redis) {
  redis_server redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  pebble_server pebble;
  scratch_dir dir;
  fake_node node({"n"});
  const std::string key_file = dir.file("acme.key");
  std::ofstream(key_file) << "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
  const auto plain_a = free_port(), plain_b = free_port();
  auto replica = [&](const std::string& name, std::uint16_t plain, const std::string& directory) {
    return std::make_unique<spawned_proxy>(replica_config(
        {name, plain, directory, "appsmith.test", dir.file("storage-" + name), pebble, redis, key_file, node.port()}));
  };
  pebble.set_validation_ports(plain_b, free_port());
  ASSERT_TRUE(pebble.start()) << pebble.error();
  // B's CA is a port where nothing listens: it cannot order, only take what A orders.
  const auto b = replica("b", plain_b, "https://127.0.0.1:" + std::to_string(free_port()) + "/dir");
  ASSERT_TRUE(b->started()) << b->output();
  const auto a = replica("a", plain_a, pebble.directory_url());
  ASSERT_TRUE(a->started()) << a->output();

  auto source = [](const spawned_proxy& p) {
    test_client admin(p.admin_port());
    const auto res = admin.get("/v1/tls");
    if (res.status != 200) return std::string();
    return json::parse(res.body)["listeners"][0]["certificates"][0].value("source", "");
  };
  ASSERT_TRUE(wait_for([&] { return source(*a) == "acme"; }, 40s)) << a->log() << b->log();
  // B looks for it at its next attempt (its own CA unreachable: within seconds) or its 30 s check.
  ASSERT_TRUE(wait_for([&] { return source(*b) == "acme"; }, 40s)) << b->log();
  EXPECT_NE(b->log().find("took the certificate for appsmith.test another replica ordered"), std::string::npos)
      << b->log();

  // The same certificate on both (B's file came from A's order).
  auto served = [](const spawned_proxy& p) {
    test_client admin(p.admin_port());
    const auto cert = json::parse(admin.get("/v1/tls").body)["listeners"][0]["certificates"][0];
    return cert["issuer"].get<std::string>() + " " + cert["not_after"].get<std::string>();
  };
  EXPECT_EQ(served(*a), served(*b));
  EXPECT_NE(served(*a).find("Pebble"), std::string::npos);
  // A replica started now, whose storage directory does not exist yet, takes it at its first look.
  const auto c = replica("c", free_port(), "https://127.0.0.1:" + std::to_string(free_port()) + "/dir");
  ASSERT_TRUE(c->started()) << c->output();
  ASSERT_TRUE(wait_for([&] { return source(*c) == "acme"; }, 20s)) << c->log();
  EXPECT_EQ(served(*c), served(*a));

  EXPECT_EQ(sample(a->admin_port(), R"(drawbridge_acme_orders_total{result="ok"})"), 1);
  EXPECT_EQ(sample(b->admin_port(), R"(drawbridge_acme_orders_total{result="ok"})"), 0);
  EXPECT_EQ(sample(c->admin_port(), R"(drawbridge_acme_orders_total{result="ok"})"), 0);
  const auto shared = redis.cli("GET drawbridge:acme:acme:certificate:appsmith.test");
  EXPECT_EQ(shared.rfind("drawbridge-acme-v1:", 0), 0U) << shared.substr(0, 80);
  EXPECT_EQ(shared.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(shared.find("BEGIN"), std::string::npos);
}

// A CA that takes the connection and never answers: the order is in flight when the process is told to
// stop, and the stop does not wait for the request's 30 s deadline.
TEST(acme, a_stop_with_an_order_in_flight_does_not_wait_for_the_ca) {
  // Listening, never accepting: the kernel completes the TCP handshake, and nothing ever answers.
  const int silent = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(silent, 8), 0);
  ASSERT_EQ(::getsockname(silent, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const auto ca_port = ntohs(address.sin_port);
  fake_node node({"n"});
  scratch_dir storage;
  const json config{
      {"listeners",
       {{{"address", "127.0.0.1:0"},
         {"tls",
          {{"acme",
            {{"directory", "https://127.0.0.1:" + std::to_string(ca_port) + "/dir"},
             {"domains", {"appsmith.test"}},
             {"challenge", "tls-alpn-01"},
             {"storage", storage.path()}}}}}}}},
      {"admin", {{"address", "127.0.0.1:0"}}},
      {"access_log", {{"path", "off"}}},
      {"upstreams",
       {{{"name", "app"}, {"nodes", {{{"name", "n"}, {"address", "127.0.0.1:" + std::to_string(node.port())}}}}}}}};
  spawned_proxy proxy(config.dump());
  ASSERT_TRUE(proxy.started()) << proxy.output();
  test_client admin(proxy.admin_port());
  // The order's first request, stuck in its TLS handshake.
  ASSERT_TRUE(wait_for(
      [&] { return json::parse(admin.get("/v1/tls").body)["listeners"][0]["acme"].value("ordering", false); }, 10s))
      << proxy.log();
  ::kill(proxy.pid(), SIGTERM);
  // Well under the request's 30 s deadline (a liveness bound, not a speed goal).
  EXPECT_EQ(proxy.wait_exit(10s), 0) << proxy.log();
  ::close(silent);
}

// The hour after a failed order holds for the whole cluster: two replicas that can both reach the CA, a
// validation that fails (the name resolves where nothing listens): one order placed in all, and both wait
// the hour.
TEST(acme, a_failed_order_on_one_replica_holds_every_replica_for_the_hour) {
  redis_server redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  pebble_server pebble;
  scratch_dir dir;
  fake_node node({"n"});
  const std::string key_file = dir.file("acme.key");
  std::ofstream(key_file) << "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
  pebble.set_validation_ports(free_port(), free_port());
  ASSERT_TRUE(pebble.start()) << pebble.error();
  ASSERT_TRUE(pebble.add_a_record("elsewhere.test", "127.0.0.2"));
  std::vector<std::unique_ptr<spawned_proxy>> replicas;
  for (const char* name : {"a", "b"}) {
    replicas.push_back(
        std::make_unique<spawned_proxy>(replica_config({name, free_port(), pebble.directory_url(), "elsewhere.test",
                                                        dir.file(name), pebble, redis, key_file, node.port()})));
    ASSERT_TRUE(replicas.back()->started()) << replicas.back()->output();
  }
  // Both have looked since the failure: each waits an hour from now.
  auto waiting = [&](const spawned_proxy& p) {
    const auto next = unix_of(acme_view(p)["acme"].value("next_renewal", ""));
    return next - std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()) > 3000;
  };
  ASSERT_TRUE(wait_for([&] { return waiting(*replicas[0]) && waiting(*replicas[1]); }, 30s))
      << acme_view(*replicas[0]).dump() << acme_view(*replicas[1]).dump();
  const double placed = sample(replicas[0]->admin_port(), R"(drawbridge_acme_orders_total{result="refused"})") +
                        sample(replicas[1]->admin_port(), R"(drawbridge_acme_orders_total{result="refused"})");
  EXPECT_EQ(placed, 1) << replicas[0]->log() << replicas[1]->log();
  EXPECT_GT(std::stoll(redis.cli("PTTL drawbridge:acme:acme:failed:elsewhere.test")), 3000000);
}
