#pragma once
// The configuration as immutable value types. Defaults here are the documented defaults (README).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/address.hpp"
#include "conf/ip_network.hpp"
#include "conf/units.hpp"

namespace drawbridge::conf {

using namespace std::chrono_literals;

// The certificate files of a TLS listener: a PEM chain (leaf first) and its private key.
struct certificate_files {
  std::string cert;
  std::string key;

  bool operator==(const certificate_files&) const = default;
};

// External Account Binding (RFC 8555 §7.3.4): the key id and MAC key some CAs (ZeroSSL, enterprise CAs)
// hand out to tie an ACME account to a customer account. The key as the CA gives it: base64url.
struct acme_eab_config {
  std::string kid;
  std::string hmac_key;

  bool operator==(const acme_eab_config&) const = default;
};

// Certificates ordered from an ACME CA (RFC 8555) for a TLS listener, renewed before they expire
// (admin/acme_manager.hpp). The account key and certificates live under `storage`.
struct acme_config {
  std::string directory;              // the CA's directory URL (https)
  std::string email;                  // the account's contact; empty = none
  std::vector<std::string> domains;   // lower-case; the first names the stored certificate
  std::string challenge = "http-01";  // or "tls-alpn-01"
  std::string storage;
  duration renew_before = std::chrono::hours(24 * 30);
  std::string ca_file;  // trust for the CA's own HTTPS (a private CA); empty = the system's roots
  std::optional<acme_eab_config> eab;

  bool operator==(const acme_config&) const = default;
};

struct listener_tls_config {
  // SNI picks among them; the first is the default. Files win over ACME for the names they cover.
  std::vector<certificate_files> certificates;
  std::optional<acme_config> acme;
  std::string min_version = "1.2";  // "1.2" or "1.3"
  // TLS 1.2 suites (TLS 1.3 has its own, all modern): forward secrecy and AEAD only.
  std::string ciphers =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  std::string hsts;  // the Strict-Transport-Security value on HTTPS responses; empty = none
  // The protocols offered by ALPN, in our order of preference: "h2" and "http/1.1". A client offering
  // neither gets no ALPN answer and speaks HTTP/1.1.
  std::vector<std::string> alpn{"h2", "http/1.1"};

  bool operator==(const listener_tls_config&) const = default;
};

struct listener_config {
  host_port address;
  bool redirect_https = false;             // plain listener: answer 308 to https://host/path?query
  std::optional<listener_tls_config> tls;  // set = an HTTPS listener
  // Plain listener: a connection that opens with the HTTP/2 preface speaks HTTP/2 (prior knowledge,
  // RFC 9113 §3.3). Off by default: cleartext HTTP/2 is for trusted networks (a TLS terminator in front).
  bool h2c = false;

  bool operator==(const listener_config&) const = default;
};

struct limits_config {
  std::uint64_t max_body_size = 150ULL << 20;
  std::uint64_t max_header_size = 16ULL << 10;
  std::uint64_t max_connections = 10'000;    // per process, shared by the workers
  std::uint64_t max_connections_per_ip = 0;  // open client connections from one address; 0 = no limit
  // A request body slower than this (bytes/s, averaged from its start, time spent waiting for the node to
  // take bytes not counted) is cut off once its first 20 s (proxy/body_limits.hpp, body_rate_grace) have
  // passed; 0 = no minimum. Defeats a body trickled just fast enough to beat client_body.
  std::uint64_t min_body_rate = 500;

  bool operator==(const limits_config&) const = default;
};

// HTTP/2 to clients (proxy/h2_connection.hpp): what each connection advertises in its SETTINGS, and holds
// the client to.
struct http2_config {
  std::uint32_t max_concurrent_streams = 128;        // also the most node requests one connection has in flight
  std::uint64_t initial_window_size = 256ULL << 10;  // per stream: the most request body buffered for it
  std::uint64_t max_header_list_size = 16ULL << 10;  // a request's fields, as RFC 9113 counts them
  std::uint64_t max_frame_size = 16ULL << 10;

  bool operator==(const http2_config&) const = default;
};

struct timeouts_config {
  duration client_header = 20s;   // whole request header, from its first byte
  duration client_idle = 75s;     // between requests on a keep-alive connection
  duration client_body = 60s;     // the longest gap between two reads of a request body
  duration connect = 30s;         // per node attempt
  duration read = 300s;           // for the response to start, and between body chunks
  duration send = 300s;           // for each write to a peer to make progress
  duration shutdown_grace = 30s;  // how long SIGTERM waits for in-flight requests
  duration tunnel_idle = 300s;    // a WebSocket tunnel with no byte either way is closed after this
};

struct route_config {
  std::optional<std::string> host;  // lower-case, without port; nullopt matches any host
  std::string path_prefix = "/";
  std::string upstream;
};

enum class balance_kind { round_robin, least_request };

struct keepalive_config {
  std::uint32_t max_idle_per_node = 32;  // per worker; 0 disables pooling
  duration idle_timeout = 60s;
  std::uint64_t max_requests = 10'000;  // requests per upstream connection before it is closed

  bool operator==(const keepalive_config&) const = default;
};

struct node_config {
  std::string name;
  host_port address;
  std::uint32_t weight = 1;

  bool operator==(const node_config&) const = default;
};

// Active health checks, run from the control thread. Absent from the config = no active checks: nodes
// count as healthy from the start (passive ejection still applies).
struct health_check_config {
  bool enabled = false;
  std::string path = "/api/v1/health";
  duration interval = 5s;
  duration timeout = 2s;                  // unset in the file: the shorter of 2s and interval
  std::uint32_t healthy_threshold = 2;    // consecutive passes to become healthy
  std::uint32_t unhealthy_threshold = 3;  // consecutive failures to become unhealthy
  duration start_period = 0s;             // after a node is added or undrained, failures don't count (Docker's meaning)
  std::vector<unsigned> expect_status{200};
  // When set, the body must be JSON and the value at `json_pointer` must equal `json_equals` (compact JSON).
  std::optional<std::string> json_pointer;
  std::string json_equals;

  bool operator==(const health_check_config&) const = default;
};

// Passive ejection: consecutive connect errors, resets or 502/503/504 answers take a node out for a while.
struct passive_config {
  std::uint32_t max_failures = 5;  // 0 disables passive ejection
  duration ejection_time = 30s;    // doubles on each repeat ejection, up to max_ejection_time
  duration max_ejection_time = 300s;

  bool operator==(const passive_config&) const = default;
};

// TLS from drawbridge to the nodes of an upstream (proxied requests and health checks alike).
struct upstream_tls_config {
  bool enabled = false;
  bool verify = true;       // the node's certificate must chain to ca_file (or the system store)
  std::string ca_file;      // empty = the system's trusted roots
  std::string sni;          // server name sent and verified; empty = the node's host
  std::string client_cert;  // with client_key: a client certificate for mutual TLS
  std::string client_key;

  bool operator==(const upstream_tls_config&) const = default;
};

// Version affinity (Appsmith's rolling upgrades): each node's application version is learned, and a client
// stays on nodes of the version it loaded. Absent = off: nothing about versions is looked at.
struct version_affinity_config {
  bool enabled = false;
  std::string header = "X-Appsmith-Version";  // named by requests, reported by nodes on every response
  std::string cookie = "drawbridge_version";  // set on HTML answers; names the version when the header is absent
  // Optional: each health check also asks `learn_path` and reads the version at `learn_pointer` of its JSON.
  std::string learn_path;  // empty = learn from `header` on responses (health-check answers included) only
  std::string learn_pointer;

  bool operator==(const version_affinity_config&) const = default;
};

// The most nodes one upstream holds, from its config or added through the admin API. The balancers mark
// the nodes a request has tried in one 64-bit mask (upstream::tried_set); two to five Appsmith nodes are
// the use case, so the mask stays one word.
inline constexpr std::size_t max_nodes_per_upstream = 64;

struct upstream_config {
  std::string name;
  balance_kind balance = balance_kind::round_robin;
  keepalive_config keepalive;
  health_check_config health_check;
  passive_config passive;
  upstream_tls_config tls;
  duration slow_start = 0s;         // 0 = off: a node gets its full share as soon as it is eligible
  std::uint32_t min_available = 1;  // drains and ejections never leave fewer eligible nodes than this
  // Requests in flight to one node at once (across workers); beyond it requests wait up to
  // timeouts.connect for a free slot, then 503. 0 = no limit.
  std::uint32_t max_connections_per_node = 0;
  version_affinity_config version_affinity;
  std::vector<node_config> nodes;

  bool operator==(const upstream_config&) const = default;
};

// The admin REST API. Absent from the config = no admin listener.
struct admin_config {
  bool enabled = false;
  host_port address{"127.0.0.1", 9901};
  std::string token_file;  // empty = no token (allowed only on a loopback address)
  bool metrics_auth = false;

  bool operator==(const admin_config&) const = default;
};

// Where the shared admin state lives (cluster mode): "redis://host:port/db", "rediss://..." (TLS) or
// "unix:///path/to/socket" (with "?db=N").
struct redis_url {
  enum class kind { tcp, tls, unix_socket };
  kind scheme = kind::tcp;
  std::string host;  // tcp and tls: without brackets for IPv6
  std::uint16_t port = 6379;
  std::string path;  // unix_socket
  std::uint32_t db = 0;

  bool operator==(const redis_url&) const = default;
};

// nullopt with `error` saying what is wrong with `text`.
std::optional<redis_url> parse_redis_url(std::string_view text, std::string& error);
// For log lines and /v1/cluster: the URL as written, never with a password (the URL takes none).
std::string to_string(const redis_url& url);

// Several replicas sharing drains, node additions and removals through Redis. Absent = this process
// alone, with its state_file.
struct cluster_config {
  bool enabled = false;
  redis_url redis;
  std::string password_file;  // the password of Redis's default user (AUTH), one line; empty = no AUTH
  // The key ACME certificates and keys are sealed with in Redis (AES-256-GCM): 64 hex digits in a file.
  // Required with an ACME listener.
  std::string acme_key_file;
  std::string name = "drawbridge";  // separates several clusters sharing one Redis
  std::string replica;              // empty = "hostname:pid", filled in at start-up
  duration heartbeat = std::chrono::seconds(1);
  upstream_tls_config tls;  // rediss://: how the server's certificate is verified

  bool operator==(const cluster_config&) const = default;
};

struct access_log_config {
  std::string path = "-";  // "-" is stdout; "off" disables the access log
  std::string format = "json";
  std::uint64_t max_size = 100ULL << 20;
  std::uint32_t max_files = 10;
  bool query = true;  // false: paths are logged without their query string (Appsmith puts tokens there)

  bool operator==(const access_log_config&) const = default;
};

// Responses drawbridge compresses when the node did not (see proxy/gzip_policy.hpp for the rules), with
// zstd, brotli or gzip as the client accepts (the section is named after the first of them).
struct gzip_config {
  bool enabled = false;
  // Media types, lower case, without parameters.
  std::vector<std::string> types{"application/json", "text/plain", "text/css", "application/javascript"};
  std::uint64_t min_length = 1000;  // a known Content-Length below this is sent as is
  // The codings on (gzip.encodings), each at its level; nullopt: off.
  std::optional<int> zstd_level = 3;  // 1 (fastest) to 19
  std::optional<int> br_level = 4;    // brotli quality 0 (fastest) to 11; 4 suits content made per request
  std::optional<int> gzip_level = 1;  // zlib level 1 (fastest) to 9
};

struct config {
  std::uint32_t workers = 0;  // 0 = one per core
  std::vector<listener_config> listeners;
  limits_config limits;
  timeouts_config timeouts;
  http2_config http2;
  std::vector<route_config> routes;
  std::vector<upstream_config> upstreams;
  access_log_config access_log;
  gzip_config gzip;
  admin_config admin;
  cluster_config cluster;
  // Peers whose forwarding headers (X-Forwarded-*, Forwarded, X-Real-IP) are believed and passed on; those
  // of any other peer are replaced or removed. Empty: nobody's.
  std::vector<ip_network> trusted_proxies;
  std::string state_file;  // empty = admin state is not persisted
  std::string log_level = "info";
};

}  // namespace drawbridge::conf
