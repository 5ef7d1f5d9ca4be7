#include "conf/config_loader.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string_view>

namespace drawbridge::conf {
namespace {

using json = nlohmann::json;

std::string describe(const json& j) {
  std::string text = j.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

const char* type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::binary:
      return "binary";
    case json::value_t::discarded:
      return "nothing";
    default:
      return "a number";
  }
}

// Walks the document and collects errors; each typed getter leaves the default in place on error.
class reader {
 public:
  explicit reader(std::vector<std::string>& errors) : errors_(errors) {}

  void error(const std::string& path, const std::string& message) { errors_.push_back(path + ": " + message); }

  bool expect_object(const json& j, const std::string& path) {
    if (j.is_object()) return true;
    error(path, std::string("expected an object, got ") + type_name(j));
    return false;
  }

  // Unknown keys are errors: a misspelt key would otherwise silently keep its default.
  void allow_keys(const json& j, const std::string& path, std::initializer_list<const char*> keys) {
    for (const auto& item : j.items()) {
      // Not a structured binding: clang 14 cannot capture one in a lambda (C++20 allows it; clang 16 does).
      const std::string& key = item.key();
      if (std::none_of(keys.begin(), keys.end(), [&](const char* k) { return key == k; }))
        error(join(path, key), "unknown key");
    }
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string index(const std::string& path, std::size_t i) { return path + "[" + std::to_string(i) + "]"; }

  void get_string(const json& obj, const char* key, const std::string& path, std::string& out) {
    if (!obj.contains(key)) return;
    const json& v = obj.at(key);
    if (!v.is_string()) return error(join(path, key), std::string("expected a string, got ") + type_name(v));
    out = v.get<std::string>();
  }

  template <typename Int>
  void get_int(const json& obj, const char* key, const std::string& path, Int& out, std::uint64_t min,
               std::uint64_t max) {
    if (!obj.contains(key)) return;
    const json& v = obj.at(key);
    const std::string p = join(path, key);
    if (!v.is_number_integer()) return error(p, std::string("expected an integer, got ") + type_name(v));
    if (v.is_number_unsigned() || v.get<std::int64_t>() >= 0) {
      const auto n = v.get<std::uint64_t>();
      if (n >= min && n <= max) {
        out = static_cast<Int>(n);
        return;
      }
    }
    error(p, "expected an integer from " + std::to_string(min) + " to " + std::to_string(max) + ", got " + describe(v));
  }

  void get_duration(const json& obj, const char* key, const std::string& path, duration& out, bool allow_zero = false) {
    if (!obj.contains(key)) return;
    const json& v = obj.at(key);
    const std::string p = join(path, key);
    std::optional<duration> d;
    if (v.is_string()) d = parse_duration(v.get<std::string>());
    if (!d || (d->count() == 0 && !allow_zero))
      return error(p, std::string("expected a ") + (allow_zero ? "" : "positive ") +
                          "duration such as \"250ms\", \"30s\", \"5m\" or \"1h\", got " + describe(v));
    out = *d;
  }

  void get_bool(const json& obj, const char* key, const std::string& path, bool& out) {
    if (!obj.contains(key)) return;
    const json& v = obj.at(key);
    if (!v.is_boolean()) return error(join(path, key), std::string("expected true or false, got ") + type_name(v));
    out = v.get<bool>();
  }

  void get_size(const json& obj, const char* key, const std::string& path, std::uint64_t& out, std::uint64_t min,
                std::uint64_t max) {
    if (!obj.contains(key)) return;
    const json& v = obj.at(key);
    const std::string p = join(path, key);
    std::optional<std::uint64_t> s;
    if (v.is_string())
      s = parse_size(v.get<std::string>());
    else if (v.is_number_unsigned())
      s = v.get<std::uint64_t>();
    if (!s) return error(p, "expected a size such as 1024, \"16k\", \"150m\" or \"1g\", got " + describe(v));
    if (*s < min || *s > max)
      return error(p, "expected a size from " + format_size(min) + " to " + format_size(max) + ", got " + describe(v));
    out = *s;
  }

  const json* get_array(const json& obj, const char* key, const std::string& path) {
    if (!obj.contains(key)) return nullptr;
    const json& v = obj.at(key);
    if (!v.is_array()) {
      error(join(path, key), std::string("expected an array, got ") + type_name(v));
      return nullptr;
    }
    return &v;
  }

  std::optional<host_port> get_address(const json& obj, const std::string& path, bool allow_port_zero) {
    const std::string p = join(path, "address");
    if (!obj.contains("address")) {
      error(p, "required");
      return std::nullopt;
    }
    const json& v = obj.at("address");
    std::optional<host_port> hp;
    if (v.is_string()) hp = parse_host_port(v.get<std::string>());
    if (!hp || (!allow_port_zero && hp->port == 0)) {
      error(p, "expected host:port, got " + describe(v));
      return std::nullopt;
    }
    return hp;
  }

 private:
  std::vector<std::string>& errors_;
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// A DNS name an ACME CA can validate by HTTP-01 or TLS-ALPN-01: letters, digits and hyphens in labels of
// 1 to 63 characters, 253 at most in all. No wildcard: those need DNS-01.
bool is_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (label == 0 || label > 63 || name[i - 1] == '-' || name[i - label] == '-') return false;
      label = 0;
      continue;
    }
    const char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    ++label;
  }
  return true;
}

acme_config read_acme(reader& r, const json& a, const std::string& p) {
  acme_config acme;
  if (!r.expect_object(a, p)) return acme;
  r.allow_keys(a, p, {"directory", "email", "domains", "challenge", "storage", "renew_before", "ca_file", "eab"});
  r.get_string(a, "directory", p, acme.directory);
  if (!a.contains("directory"))
    r.error(reader::join(p, "directory"), "required");
  else if (a.at("directory").is_string() && acme.directory.rfind("https://", 0) != 0)
    r.error(reader::join(p, "directory"),
            "expected an https:// URL (RFC 8555 speaks HTTPS only), got \"" + acme.directory + "\"");
  r.get_string(a, "email", p, acme.email);
  if (!acme.email.empty()) {
    const auto at = acme.email.find('@');
    const bool plain = acme.email.find_first_of(" ,;:<>\"\r\n\t") == std::string::npos;
    if (!plain || at == std::string::npos || at == 0 || at + 1 == acme.email.size() ||
        acme.email.find('@', at + 1) != std::string::npos)
      r.error(reader::join(p, "email"), "expected one address such as ops@example.com, got \"" + acme.email + "\"");
  }
  const std::string dp = reader::join(p, "domains");
  if (const json* domains = r.get_array(a, "domains", p)) {
    if (domains->empty()) r.error(dp, "expected at least one name");
    for (std::size_t i = 0; i < domains->size(); ++i) {
      const json& v = (*domains)[i];
      const std::string name = v.is_string() ? lower(v.get<std::string>()) : std::string();
      if (!name.empty() && name.front() == '*')
        r.error(reader::index(dp, i), "a wildcard needs the dns-01 challenge, which drawbridge does not answer");
      else if (!is_dns_name(name))
        r.error(reader::index(dp, i), "expected a DNS name such as appsmith.example.com, got " + describe(v));
      else if (std::find(acme.domains.begin(), acme.domains.end(), name) != acme.domains.end())
        r.error(reader::index(dp, i), "\"" + name + "\" is listed twice");
      else
        acme.domains.push_back(name);
    }
  } else if (!a.contains("domains")) {
    r.error(dp, "required");
  }
  r.get_string(a, "challenge", p, acme.challenge);
  if (acme.challenge != "http-01" && acme.challenge != "tls-alpn-01")
    r.error(reader::join(p, "challenge"), "expected \"http-01\" or \"tls-alpn-01\", got \"" + acme.challenge + "\"");
  r.get_string(a, "storage", p, acme.storage);
  if (!a.contains("storage"))
    r.error(reader::join(p, "storage"), "required");
  else if (acme.storage.empty())
    r.error(reader::join(p, "storage"), "must not be empty");
  r.get_duration(a, "renew_before", p, acme.renew_before);
  if (a.contains("ca_file") && !a.at("ca_file").is_null()) r.get_string(a, "ca_file", p, acme.ca_file);
  if (a.contains("eab") && !a.at("eab").is_null()) {
    const std::string ep = reader::join(p, "eab");
    const json& e = a.at("eab");
    if (r.expect_object(e, ep)) {
      r.allow_keys(e, ep, {"kid", "hmac_key"});
      acme_eab_config eab;
      for (auto [key, out] : {std::pair<const char*, std::string*>{"kid", &eab.kid}, {"hmac_key", &eab.hmac_key}}) {
        r.get_string(e, key, ep, *out);
        if (out->empty()) r.error(reader::join(ep, key), "required (a non-empty string)");
      }
      if (eab.hmac_key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=") !=
          std::string::npos)
        r.error(reader::join(ep, "hmac_key"), "expected the key as the CA gives it: base64url");
      acme.eab = std::move(eab);
    }
  }
  return acme;
}

listener_tls_config read_listener_tls(reader& r, const json& t, const std::string& p) {
  listener_tls_config tls;
  if (!r.expect_object(t, p)) return tls;
  r.allow_keys(t, p, {"certificates", "acme", "min_version", "ciphers", "hsts", "alpn"});
  if (t.contains("acme")) tls.acme = read_acme(r, t.at("acme"), reader::join(p, "acme"));
  const json* certs = r.get_array(t, "certificates", p);
  if (!t.contains("certificates") && !tls.acme)
    r.error(reader::join(p, "certificates"), "required (or acme)");
  else if (certs && certs->empty() && !tls.acme)
    r.error(reader::join(p, "certificates"), "expected at least one certificate");
  if (certs) {
    for (std::size_t i = 0; i < certs->size(); ++i) {
      const std::string cp = reader::index(reader::join(p, "certificates"), i);
      const json& cj = (*certs)[i];
      if (!r.expect_object(cj, cp)) continue;
      r.allow_keys(cj, cp, {"cert", "key"});
      certificate_files files;
      for (auto [key, out] : {std::pair<const char*, std::string*>{"cert", &files.cert}, {"key", &files.key}}) {
        r.get_string(cj, key, cp, *out);
        if (!cj.contains(key))
          r.error(reader::join(cp, key), "required");
        else if (cj.at(key).is_string() && out->empty())
          r.error(reader::join(cp, key), "must not be empty");
      }
      tls.certificates.push_back(std::move(files));
    }
  }
  r.get_string(t, "min_version", p, tls.min_version);
  if (tls.min_version != "1.2" && tls.min_version != "1.3")
    r.error(reader::join(p, "min_version"), "expected \"1.2\" or \"1.3\", got \"" + tls.min_version + "\"");
  r.get_string(t, "ciphers", p, tls.ciphers);
  if (tls.ciphers.empty()) r.error(reader::join(p, "ciphers"), "must not be empty");
  r.get_string(t, "hsts", p, tls.hsts);
  if (const json* alpn = r.get_array(t, "alpn", p)) {
    const std::string ap = reader::join(p, "alpn");
    tls.alpn.clear();
    if (alpn->empty()) r.error(ap, "expected at least one protocol");
    for (std::size_t i = 0; i < alpn->size(); ++i) {
      const json& v = (*alpn)[i];
      const std::string name = v.is_string() ? v.get<std::string>() : std::string();
      if (name != "h2" && name != "http/1.1")
        r.error(reader::index(ap, i), "expected \"h2\" or \"http/1.1\", got " + describe(v));
      else if (std::find(tls.alpn.begin(), tls.alpn.end(), name) != tls.alpn.end())
        r.error(reader::index(ap, i), "\"" + name + "\" is listed twice");
      else
        tls.alpn.push_back(name);
    }
  }
  return tls;
}

void read_upstream_tls(reader& r, const json& u, const std::string& p, upstream_tls_config& tls) {
  if (!u.contains("tls")) return;
  const std::string tp = reader::join(p, "tls");
  const json& t = u.at("tls");
  if (!r.expect_object(t, tp)) return;
  r.allow_keys(t, tp, {"verify", "ca_file", "sni", "client_cert", "client_key"});
  tls.enabled = true;
  r.get_bool(t, "verify", tp, tls.verify);
  r.get_string(t, "ca_file", tp, tls.ca_file);
  r.get_string(t, "sni", tp, tls.sni);
  r.get_string(t, "client_cert", tp, tls.client_cert);
  r.get_string(t, "client_key", tp, tls.client_key);
  if (tls.client_cert.empty() != tls.client_key.empty())
    r.error(reader::join(tp, tls.client_cert.empty() ? "client_cert" : "client_key"),
            "client_cert and client_key go together");
}

void read_listeners(reader& r, const json& root, config& c) {
  const json* arr = r.get_array(root, "listeners", "");
  if (!arr) {
    if (!root.contains("listeners")) c.listeners.push_back({host_port{"0.0.0.0", 8080}, false, std::nullopt});
    return;
  }
  if (arr->empty()) r.error("listeners", "expected at least one listener");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const std::string p = reader::index("listeners", i);
    const json& l = (*arr)[i];
    if (!r.expect_object(l, p)) continue;
    r.allow_keys(l, p, {"address", "redirect_https", "tls", "h2c"});
    auto hp = r.get_address(l, p, /*allow_port_zero=*/true);
    if (!hp) continue;
    // Port 0 too: the address is a listener's identity (its metrics label, and what a reload matches).
    if (!seen.insert(to_string(*hp)).second) r.error(reader::join(p, "address"), "the same address is listed twice");
    listener_config listener{*hp, false, std::nullopt};
    r.get_bool(l, "redirect_https", p, listener.redirect_https);
    r.get_bool(l, "h2c", p, listener.h2c);
    if (l.contains("tls")) listener.tls = read_listener_tls(r, l.at("tls"), reader::join(p, "tls"));
    if (listener.redirect_https && listener.tls)
      r.error(reader::join(p, "redirect_https"), "only for a plain listener (this one has tls)");
    if (listener.h2c && listener.tls)
      r.error(reader::join(p, "h2c"), "only for a plain listener (a TLS listener offers h2 by ALPN: tls.alpn)");
    c.listeners.push_back(std::move(listener));
  }
  // HTTP-01 is answered on the plain listeners: the CA comes to port 80 of the name.
  const bool any_plain =
      std::any_of(c.listeners.begin(), c.listeners.end(), [](const listener_config& l) { return !l.tls; });
  for (std::size_t i = 0; i < c.listeners.size() && !any_plain; ++i) {
    const auto& tls = c.listeners[i].tls;
    if (tls && tls->acme && tls->acme->challenge == "http-01")
      r.error(reader::index("listeners", i) + ".tls.acme.challenge",
              "http-01 is answered on a plain listener (the CA connects to port 80), and none is configured: add "
              "one, or use tls-alpn-01");
  }
}

void read_limits(reader& r, const json& root, config& c) {
  if (!root.contains("limits")) return;
  const json& l = root.at("limits");
  if (!r.expect_object(l, "limits")) return;
  r.allow_keys(l, "limits",
               {"max_body_size", "max_header_size", "max_connections", "max_connections_per_ip", "min_body_rate"});
  r.get_size(l, "max_body_size", "limits", c.limits.max_body_size, 0, 1ULL << 50);
  // Below 1k not even a browser's request line and cookies fit. Above 64k Beast would refuse a long field
  // by itself (it stores a field in at most 65,533 bytes) with a 400 instead of our 431.
  r.get_size(l, "max_header_size", "limits", c.limits.max_header_size, 1ULL << 10, 64ULL << 10);
  r.get_int(l, "max_connections", "limits", c.limits.max_connections, 1, 10'000'000);
  r.get_int(l, "max_connections_per_ip", "limits", c.limits.max_connections_per_ip, 0, 10'000'000);
  r.get_int(l, "min_body_rate", "limits", c.limits.min_body_rate, 0, 1ULL << 40);
}

void read_http2(reader& r, const json& root, config& c) {
  if (!root.contains("http2")) return;
  const json& h = root.at("http2");
  if (!r.expect_object(h, "http2")) return;
  r.allow_keys(h, "http2", {"max_concurrent_streams", "initial_window_size", "max_header_list_size", "max_frame_size"});
  r.get_int(h, "max_concurrent_streams", "http2", c.http2.max_concurrent_streams, 1, 10'000);
  // The window's largest value is 2^31-1 (RFC 9113 §6.9.1); a frame's lies between 16k and 16m (§4.2).
  r.get_size(h, "initial_window_size", "http2", c.http2.initial_window_size, 1ULL << 10, (1ULL << 31) - 1);
  // As limits.max_header_size: past 64k a single field (or the joined cookie) is more than Beast keeps.
  r.get_size(h, "max_header_list_size", "http2", c.http2.max_header_list_size, 1ULL << 10, 64ULL << 10);
  r.get_size(h, "max_frame_size", "http2", c.http2.max_frame_size, 16ULL << 10, (16ULL << 20) - 1);
}

void read_timeouts(reader& r, const json& root, config& c) {
  if (!root.contains("timeouts")) return;
  const json& t = root.at("timeouts");
  if (!r.expect_object(t, "timeouts")) return;
  r.allow_keys(
      t, "timeouts",
      {"client_header", "client_idle", "client_body", "connect", "read", "send", "shutdown_grace", "tunnel_idle"});
  auto& o = c.timeouts;
  r.get_duration(t, "client_header", "timeouts", o.client_header);
  r.get_duration(t, "client_idle", "timeouts", o.client_idle);
  r.get_duration(t, "client_body", "timeouts", o.client_body);
  r.get_duration(t, "connect", "timeouts", o.connect);
  r.get_duration(t, "read", "timeouts", o.read);
  r.get_duration(t, "send", "timeouts", o.send);
  r.get_duration(t, "shutdown_grace", "timeouts", o.shutdown_grace);
  r.get_duration(t, "tunnel_idle", "timeouts", o.tunnel_idle);
}

// A required, non-empty name that is unique among `names` ("node" or "upstream" in the message).
void read_unique_name(reader& r, const json& obj, const std::string& p, const char* what, std::string& out,
                      std::set<std::string>& names) {
  r.get_string(obj, "name", p, out);
  const std::string path = reader::join(p, "name");
  if (!obj.contains("name"))
    r.error(path, "required");
  else if (obj.at("name").is_string() && out.empty())
    r.error(path, "must not be empty");
  else if (!out.empty() && !names.insert(out).second)
    r.error(path, std::string("duplicate ") + what + " name \"" + out + "\"");
}

void read_node(reader& r, const json& n, const std::string& p, upstream_config& u, std::set<std::string>& names) {
  if (!r.expect_object(n, p)) return;
  r.allow_keys(n, p, {"name", "address", "weight"});
  node_config node;
  read_unique_name(r, n, p, "node", node.name, names);
  auto hp = r.get_address(n, p, /*allow_port_zero=*/false);
  if (hp) node.address = *hp;
  r.get_int(n, "weight", p, node.weight, 1, 1000);
  u.nodes.push_back(std::move(node));
}

// A path drawbridge itself requests (health checks, learn_from): origin-form, nothing that would break
// the request line.
void check_request_path(reader& r, const std::string& at, const std::string& path) {
  if (path.empty() || path.front() != '/')
    r.error(at, "must start with \"/\", got \"" + path + "\"");
  else if (std::any_of(path.begin(), path.end(),
                       [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; }))
    r.error(at, "must not contain spaces or control characters");
}

// The required "pointer" of `obj` (at `path`) into `out`: a JSON pointer such as `example`; "" (the whole
// document) only when `whole_document`. False, with the error recorded, when it is missing or invalid.
bool read_json_pointer(reader& r, const json& obj, const std::string& path, const char* example, bool whole_document,
                       std::string& out) {
  const std::string at = reader::join(path, "pointer");
  r.get_string(obj, "pointer", path, out);
  if (!obj.contains("pointer")) {
    r.error(at, "required");
    return false;
  }
  if (out.empty() ? !whole_document : out.front() != '/') {
    r.error(at, std::string("expected a JSON pointer such as \"") + example + "\"");
    return false;
  }
  try {
    (void)json::json_pointer(out);
  } catch (const json::exception& ex) {
    r.error(at, std::string("invalid JSON pointer: ") + ex.what());
    return false;
  }
  return true;
}

void read_health_check(reader& r, const json& u, const std::string& p, health_check_config& h) {
  if (!u.contains("health_check")) return;
  const std::string hp = reader::join(p, "health_check");
  const json& j = u.at("health_check");
  if (!r.expect_object(j, hp)) return;
  r.allow_keys(j, hp,
               {"path", "interval", "timeout", "healthy_threshold", "unhealthy_threshold", "start_period",
                "expect_status", "expect_json"});
  h.enabled = true;
  r.get_string(j, "path", hp, h.path);
  check_request_path(r, reader::join(hp, "path"), h.path);
  r.get_duration(j, "interval", hp, h.interval);
  // Unset, the timeout is the default or the interval, whichever is shorter: "interval": "1s" alone is
  // fine. Only a timeout the user wrote can be too long.
  if (j.contains("timeout")) {
    r.get_duration(j, "timeout", hp, h.timeout);
    if (h.timeout > h.interval) r.error(reader::join(hp, "timeout"), "must not be longer than interval");
  } else {
    h.timeout = std::min(h.timeout, h.interval);
  }
  r.get_int(j, "healthy_threshold", hp, h.healthy_threshold, 1, 100);
  r.get_int(j, "unhealthy_threshold", hp, h.unhealthy_threshold, 1, 100);
  r.get_duration(j, "start_period", hp, h.start_period, /*allow_zero=*/true);
  if (const json* statuses = r.get_array(j, "expect_status", hp)) {
    h.expect_status.clear();
    if (statuses->empty()) r.error(reader::join(hp, "expect_status"), "expected at least one status");
    for (std::size_t i = 0; i < statuses->size(); ++i) {
      const json& s = (*statuses)[i];
      if (!s.is_number_unsigned() || s.get<unsigned>() < 100 || s.get<unsigned>() > 599)
        r.error(reader::index(reader::join(hp, "expect_status"), i),
                "expected a status from 100 to 599, got " + describe(s));
      else
        h.expect_status.push_back(s.get<unsigned>());
    }
  }
  if (j.contains("expect_json")) {
    const std::string jp = reader::join(hp, "expect_json");
    const json& e = j.at("expect_json");
    if (r.expect_object(e, jp)) {
      r.allow_keys(e, jp, {"pointer", "equals"});
      std::string pointer;
      if (read_json_pointer(r, e, jp, "/responseMeta/success", /*whole_document=*/true, pointer))
        h.json_pointer = pointer;
      if (!e.contains("equals"))
        r.error(reader::join(jp, "equals"), "required");
      else
        h.json_equals = e.at("equals").dump();
    }
  }
}

// RFC 9110 token characters: what a field name (and a cookie name) may be made of.
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

void read_version_affinity(reader& r, const json& u, const std::string& p, version_affinity_config& v) {
  if (!u.contains("version_affinity")) return;
  const std::string vp = reader::join(p, "version_affinity");
  const json& j = u.at("version_affinity");
  if (!r.expect_object(j, vp)) return;
  r.allow_keys(j, vp, {"header", "cookie", "learn_from"});
  v.enabled = true;
  r.get_string(j, "header", vp, v.header);
  if (!is_token(v.header)) r.error(reader::join(vp, "header"), "expected a header name, got \"" + v.header + "\"");
  r.get_string(j, "cookie", vp, v.cookie);
  if (!is_token(v.cookie)) r.error(reader::join(vp, "cookie"), "expected a cookie name, got \"" + v.cookie + "\"");
  if (!j.contains("learn_from")) return;
  const std::string lp = reader::join(vp, "learn_from");
  const json& l = j.at("learn_from");
  if (!r.expect_object(l, lp)) return;
  r.allow_keys(l, lp, {"path", "pointer"});
  r.get_string(l, "path", lp, v.learn_path);
  check_request_path(r, reader::join(lp, "path"), v.learn_path);
  read_json_pointer(r, l, lp, "/version", /*whole_document=*/false, v.learn_pointer);
}

void read_passive(reader& r, const json& u, const std::string& p, passive_config& passive) {
  if (!u.contains("passive")) return;
  const std::string pp = reader::join(p, "passive");
  const json& j = u.at("passive");
  if (!r.expect_object(j, pp)) return;
  r.allow_keys(j, pp, {"max_failures", "ejection_time", "max_ejection_time"});
  r.get_int(j, "max_failures", pp, passive.max_failures, 0, 1000);
  r.get_duration(j, "ejection_time", pp, passive.ejection_time);
  r.get_duration(j, "max_ejection_time", pp, passive.max_ejection_time);
  if (passive.max_ejection_time < passive.ejection_time)
    r.error(reader::join(pp, "max_ejection_time"), "must not be shorter than ejection_time");
}

void read_upstream(reader& r, const json& u, const std::string& p, config& c, std::set<std::string>& names) {
  if (!r.expect_object(u, p)) return;
  r.allow_keys(u, p,
               {"name", "balance", "keepalive", "health_check", "passive", "slow_start", "min_available",
                "max_connections_per_node", "tls", "version_affinity", "nodes"});
  upstream_config up;
  read_unique_name(r, u, p, "upstream", up.name, names);

  std::string balance = "round_robin";
  r.get_string(u, "balance", p, balance);
  if (balance == "round_robin")
    up.balance = balance_kind::round_robin;
  else if (balance == "least_request")
    up.balance = balance_kind::least_request;
  else
    r.error(reader::join(p, "balance"), "expected \"round_robin\" or \"least_request\", got \"" + balance + "\"");

  if (u.contains("keepalive")) {
    const std::string kp = reader::join(p, "keepalive");
    const json& k = u.at("keepalive");
    if (r.expect_object(k, kp)) {
      r.allow_keys(k, kp, {"max_idle_per_node", "idle_timeout", "max_requests"});
      r.get_int(k, "max_idle_per_node", kp, up.keepalive.max_idle_per_node, 0, 100'000);
      r.get_duration(k, "idle_timeout", kp, up.keepalive.idle_timeout);
      r.get_int(k, "max_requests", kp, up.keepalive.max_requests, 1, 1ULL << 40);
    }
  }

  read_health_check(r, u, p, up.health_check);
  read_passive(r, u, p, up.passive);
  read_version_affinity(r, u, p, up.version_affinity);
  read_upstream_tls(r, u, p, up.tls);
  r.get_duration(u, "slow_start", p, up.slow_start, /*allow_zero=*/true);
  r.get_int(u, "min_available", p, up.min_available, 0, 64);
  r.get_int(u, "max_connections_per_node", p, up.max_connections_per_node, 0, 1'000'000);

  const json* nodes = r.get_array(u, "nodes", p);
  if (!u.contains("nodes"))
    r.error(reader::join(p, "nodes"), "required");
  else if (nodes && nodes->empty())
    r.error(reader::join(p, "nodes"), "expected at least one node");
  else if (nodes && nodes->size() > max_nodes_per_upstream)
    r.error(reader::join(p, "nodes"), "at most " + std::to_string(max_nodes_per_upstream) + " nodes per upstream");
  if (nodes) {
    std::set<std::string> node_names;
    for (std::size_t i = 0; i < nodes->size(); ++i)
      read_node(r, (*nodes)[i], reader::index(reader::join(p, "nodes"), i), up, node_names);
    if (!nodes->empty() && up.min_available > nodes->size())
      r.error(reader::join(p, "min_available"), "is " + std::to_string(up.min_available) + " but the upstream has " +
                                                    std::to_string(nodes->size()) + " node(s)");
  }
  c.upstreams.push_back(std::move(up));
}

void read_routes(reader& r, const json& root, config& c, const std::set<std::string>& upstreams) {
  const json* arr = r.get_array(root, "routes", "");
  if (!arr) {
    // Without routes, a single upstream takes every request; with several, routing must be explicit.
    if (!root.contains("routes")) {
      if (c.upstreams.size() == 1)
        c.routes.push_back({std::nullopt, "/", c.upstreams[0].name});
      else if (c.upstreams.size() > 1)
        r.error("routes", "required when there is more than one upstream");
    }
    return;
  }
  std::set<std::pair<std::string, std::string>> seen;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const std::string p = reader::index("routes", i);
    const json& j = (*arr)[i];
    if (!r.expect_object(j, p)) continue;
    r.allow_keys(j, p, {"host", "path_prefix", "upstream"});
    route_config route;
    if (j.contains("host")) {
      std::string host;
      r.get_string(j, "host", p, host);
      if (j.at("host").is_string() && host.empty())
        r.error(reader::join(p, "host"), "must not be empty");
      else if (!host.empty())
        route.host = lower(host);
    }
    r.get_string(j, "path_prefix", p, route.path_prefix);
    if (route.path_prefix.empty() || route.path_prefix.front() != '/')
      r.error(reader::join(p, "path_prefix"), "must start with \"/\", got \"" + route.path_prefix + "\"");
    if (!j.contains("upstream")) r.error(reader::join(p, "upstream"), "required");
    r.get_string(j, "upstream", p, route.upstream);
    if (!route.upstream.empty() && !upstreams.count(route.upstream))
      r.error(reader::join(p, "upstream"), "no upstream is named \"" + route.upstream + "\"");
    if (!seen.insert({route.host.value_or(""), route.path_prefix}).second)
      r.error(p, "another route has the same host and path_prefix");
    c.routes.push_back(std::move(route));
  }
}

void read_access_log(reader& r, const json& root, config& c) {
  if (!root.contains("access_log")) return;
  const json& a = root.at("access_log");
  if (!r.expect_object(a, "access_log")) return;
  r.allow_keys(a, "access_log", {"path", "format", "max_size", "max_files", "query"});
  r.get_string(a, "path", "access_log", c.access_log.path);
  if (c.access_log.path.empty()) r.error("access_log.path", "must not be empty (use \"-\" for stdout)");
  r.get_string(a, "format", "access_log", c.access_log.format);
  if (c.access_log.format != "json")
    r.error("access_log.format", "expected \"json\", got \"" + c.access_log.format + "\"");
  r.get_size(a, "max_size", "access_log", c.access_log.max_size, 1ULL << 10, 1ULL << 40);
  r.get_int(a, "max_files", "access_log", c.access_log.max_files, 1, 1000);
  r.get_bool(a, "query", "access_log", c.access_log.query);
}

void read_trusted_proxies(reader& r, const json& root, config& c) {
  const json* list = r.get_array(root, "trusted_proxies", "");
  if (!list) return;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& v = (*list)[i];
    std::optional<ip_network> network;
    if (v.is_string()) network = parse_ip_network(v.get<std::string>());
    if (network)
      c.trusted_proxies.push_back(*network);
    else
      r.error(reader::index("trusted_proxies", i), "expected an IP address or CIDR, got " + describe(v));
  }
}

// gzip.encodings: {"zstd": 3, "br": 4, "gzip": 1}, the codings on, each with its level. Without it, all
// three at those levels, gzip's from the older "level" key if given.
void read_gzip_encodings(reader& r, const json& g, gzip_config& c) {
  int gzip_level = 1;
  r.get_int(g, "level", "gzip", gzip_level, 1, 9);
  c.gzip_level = gzip_level;
  if (!g.contains("encodings")) return;
  const json& e = g.at("encodings");
  if (!r.expect_object(e, "gzip.encodings")) return;
  if (g.contains("level")) r.error("gzip.level", "give gzip's level in gzip.encodings.gzip instead, not both");
  if (e.empty())
    r.error("gzip.encodings",
            "expected at least one of \"zstd\", \"br\", \"gzip\" (\"enabled\": false turns compression off)");
  r.allow_keys(e, "gzip.encodings", {"zstd", "br", "gzip"});
  const auto level = [&](const char* key, std::optional<int>& out, int min, int max) {
    out.reset();
    if (!e.contains(key)) return;
    int v = min;
    r.get_int(e, key, "gzip.encodings", v, static_cast<std::uint64_t>(min), static_cast<std::uint64_t>(max));
    out = v;
  };
  level("zstd", c.zstd_level, 1, 19);  // 20 and above need a window beyond what HTTP decoders must accept
  level("br", c.br_level, 0, 11);
  level("gzip", c.gzip_level, 1, 9);
}

void read_gzip(reader& r, const json& root, config& c) {
  if (!root.contains("gzip")) return;
  const json& g = root.at("gzip");
  if (!r.expect_object(g, "gzip")) return;
  r.allow_keys(g, "gzip", {"enabled", "types", "min_length", "level", "encodings"});
  c.gzip.enabled = true;  // a gzip section means gzip, unless it says "enabled": false
  r.get_bool(g, "enabled", "gzip", c.gzip.enabled);
  if (const json* types = r.get_array(g, "types", "gzip")) {
    c.gzip.types.clear();
    for (std::size_t i = 0; i < types->size(); ++i) {
      const json& t = (*types)[i];
      const std::string p = reader::index("gzip.types", i);
      if (!t.is_string()) {
        r.error(p, std::string("expected a media type such as \"application/json\", got ") + type_name(t));
        continue;
      }
      std::string type = t.get<std::string>();
      std::transform(type.begin(), type.end(), type.begin(), [](unsigned char ch) { return std::tolower(ch); });
      if (type.find('/') == std::string::npos || type.find(';') != std::string::npos ||
          type.find(' ') != std::string::npos)
        r.error(p, "expected a media type such as \"application/json\" (no parameters), got \"" + type + "\"");
      else
        c.gzip.types.push_back(std::move(type));
    }
  }
  r.get_size(g, "min_length", "gzip", c.gzip.min_length, 0, 1ULL << 30);
  read_gzip_encodings(r, g, c.gzip);
}

bool is_loopback(const std::string& host) { return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0; }

void read_admin(reader& r, const json& root, config& c) {
  if (!root.contains("admin")) return;
  const json& a = root.at("admin");
  if (!r.expect_object(a, "admin")) return;
  r.allow_keys(a, "admin", {"address", "token_file", "metrics_auth"});
  c.admin.enabled = true;
  if (a.contains("address"))
    if (auto hp = r.get_address(a, "admin", /*allow_port_zero=*/true)) c.admin.address = *hp;
  r.get_string(a, "token_file", "admin", c.admin.token_file);
  r.get_bool(a, "metrics_auth", "admin", c.admin.metrics_auth);
  // An unauthenticated admin API that anyone on the network can reach could drain every node.
  if (c.admin.token_file.empty() && !is_loopback(c.admin.address.host))
    r.error("admin.token_file",
            "required when admin.address (" + to_string(c.admin.address) + ") is not a loopback address");
}

// The names of a cluster and of a replica end up in Redis keys and in log lines: printable, no spaces.
bool valid_cluster_name(const std::string& name, std::size_t max) {
  if (name.empty() || name.size() > max) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char ch) {
    return std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == ':';
  });
}

void read_cluster(reader& r, const json& root, config& c) {
  if (!root.contains("cluster")) return;
  const json& cl = root.at("cluster");
  if (!r.expect_object(cl, "cluster")) return;
  r.allow_keys(cl, "cluster", {"redis", "password_file", "name", "replica", "heartbeat", "tls", "acme_key_file"});
  c.cluster.enabled = true;
  std::string url;
  r.get_string(cl, "redis", "cluster", url);
  if (!cl.contains("redis")) {
    r.error("cluster.redis", "required (redis://host:port/db, rediss://host:port/db or unix:///path)");
  } else if (cl.at("redis").is_string()) {
    std::string error;
    if (auto parsed = parse_redis_url(url, error))
      c.cluster.redis = *parsed;
    else
      r.error("cluster.redis", error);
  }
  r.get_string(cl, "password_file", "cluster", c.cluster.password_file);
  r.get_string(cl, "acme_key_file", "cluster", c.cluster.acme_key_file);
  // Replicas share ACME certificates through Redis, sealed with this key: none, no sharing, and every
  // replica would order its own (and soon meet the CA's rate limits).
  const bool acme = std::any_of(c.listeners.begin(), c.listeners.end(),
                                [](const listener_config& l) { return l.tls && l.tls->acme; });
  if (acme && c.cluster.acme_key_file.empty())
    r.error("cluster.acme_key_file",
            "required when a listener has tls.acme: the replicas share its certificates through Redis, encrypted "
            "with this key (32 random bytes as 64 hex digits: openssl rand -hex 32)");
  r.get_string(cl, "name", "cluster", c.cluster.name);
  if (!valid_cluster_name(c.cluster.name, 64))
    r.error("cluster.name", "expected 1 to 64 letters, digits, '-', '_', '.' or ':', got \"" + c.cluster.name + "\"");
  r.get_string(cl, "replica", "cluster", c.cluster.replica);
  if (cl.contains("replica") && !valid_cluster_name(c.cluster.replica, 128))
    r.error("cluster.replica",
            "expected 1 to 128 letters, digits, '-', '_', '.' or ':', got \"" + c.cluster.replica + "\"");
  r.get_duration(cl, "heartbeat", "cluster", c.cluster.heartbeat);
  if (c.cluster.heartbeat < std::chrono::milliseconds(100) || c.cluster.heartbeat > std::chrono::seconds(60))
    r.error("cluster.heartbeat", "expected from 100ms to 60s, got " + format_duration(c.cluster.heartbeat));
  read_upstream_tls(r, cl, "cluster", c.cluster.tls);
  if (c.cluster.tls.enabled && c.cluster.redis.scheme != redis_url::kind::tls)
    r.error("cluster.tls", "only with a rediss:// URL");
  if (c.cluster.redis.scheme == redis_url::kind::tls) c.cluster.tls.enabled = true;
}

}  // namespace

load_result parse_config(const std::string& json_text) {
  load_result result;
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& e) {
    result.errors.push_back("(document): invalid JSON at byte " + std::to_string(e.byte) + ": " +
                            std::string(e.what()));
    return result;
  } catch (const json::exception& e) {  // a number too large for a double (out_of_range.406), for one
    result.errors.push_back("(document): invalid JSON: " + std::string(e.what()));
    return result;
  }
  reader r(result.errors);
  if (!root.is_object()) {
    r.error("(document)", std::string("expected an object, got ") + type_name(root));
    return result;
  }
  r.allow_keys(root, "",
               {"workers", "listeners", "limits", "timeouts", "http2", "routes", "upstreams", "access_log", "gzip",
                "admin", "trusted_proxies", "state_file", "cluster", "log_level"});
  config& c = result.value;
  r.get_int(root, "workers", "", c.workers, 0, 256);
  read_listeners(r, root, c);
  read_limits(r, root, c);
  read_timeouts(r, root, c);
  read_http2(r, root, c);

  std::set<std::string> upstream_names;
  if (const json* ups = r.get_array(root, "upstreams", "")) {
    if (ups->empty()) r.error("upstreams", "expected at least one upstream");
    for (std::size_t i = 0; i < ups->size(); ++i)
      read_upstream(r, (*ups)[i], reader::index("upstreams", i), c, upstream_names);
  } else if (!root.contains("upstreams")) {
    r.error("upstreams", "required");
  }
  read_routes(r, root, c, upstream_names);
  read_access_log(r, root, c);
  read_gzip(r, root, c);
  read_admin(r, root, c);
  read_trusted_proxies(r, root, c);
  r.get_string(root, "state_file", "", c.state_file);
  read_cluster(r, root, c);

  r.get_string(root, "log_level", "", c.log_level);
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!levels.count(c.log_level))
    r.error("log_level", "expected one of trace, debug, info, warn, error, critical, off, got \"" + c.log_level + "\"");
  return result;
}

load_result load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    load_result result;
    result.errors.push_back(path + ": cannot read the config file");
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str());
}

}  // namespace drawbridge::conf
