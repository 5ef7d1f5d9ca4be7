// The admin API's router (admin/admin_api.hpp) with any method, target, query, headers and body, over a
// control plane of its own for each input (one upstream of three nodes, min_available 2; not started: no
// listener, no health checks, no thread), driven on the control plane's io_context.
//
// Input: byte 0 flags (bit 0: a token file; bit 1: admin.metrics_auth); the rest is one HTTP request as
// the admin server's parser takes it (a request Beast refuses never reaches the API).
// Checks:
//  - handle() answers every request, without throwing, unless it waits (only a `wait` does, cut short
//    here: the control thread's ticks that end drains are not running);
//  - the status is a real one; JSON answers parse, and an error answer has {"error":{"code","message"}};
//    a 405 says what is allowed;
//  - a refused request (status >= 400) changed no node, and with a token file nothing changes without a
//    valid token.

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/beast/http/parser.hpp>
#include <exception>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>
#include <vector>

#include "admin/admin_api.hpp"
#include "admin/control_plane.hpp"
#include "conf/config_loader.hpp"
#include "proxy/runtime.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace net = boost::asio;
namespace http = boost::beast::http;
using namespace drawbridge;

namespace {

std::string token_file;

std::string config_json(bool tokens, bool metrics_auth) {
  std::string admin = R"({"address": "127.0.0.1:0")";
  if (tokens) admin += R"(, "token_file": ")" + token_file + "\"";
  if (metrics_auth) admin += R"(, "metrics_auth": true)";
  admin += "}";
  return R"({"listeners": [{"address": "127.0.0.1:0"}], "access_log": {"path": "off"},
    "routes": [{"path_prefix": "/", "upstream": "app"}],
    "upstreams": [{"name": "app", "min_available": 2, "nodes": [
      {"name": "node1", "address": "127.0.0.1:9", "weight": 1},
      {"name": "node2", "address": "127.0.0.1:10", "weight": 2},
      {"name": "node3", "address": "[::1]:11", "weight": 3}]}],
    "admin": )" +
         admin + "}";
}

// What a request may change: each upstream's nodes with their admin state and weight.
using node_view = std::tuple<std::string, std::string, int, std::uint32_t, bool>;
std::vector<node_view> nodes_of(const proxy::runtime& rt) {
  std::vector<node_view> out;
  for (const auto& g : rt.upstreams)
    for (const auto& n : *g->nodes())
      out.emplace_back(g->name(), n->name(), static_cast<int>(n->admin.load()), n->weight(), n->removed.load());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // the audit lines
  const char* base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  token_file = std::string(base) + "/drawbridge-fuzz-tokens-" + std::to_string(::getpid());
  std::ofstream(token_file) << "# operators\nops:tok-ops-1\nci:tok-ci-2\n";
  std::atexit([] { ::unlink(token_file.c_str()); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool tokens = data[0] & 1;
  const bool metrics_auth = data[0] & 2;

  // The admin server's parser (admin/http_server.cpp): 16 KiB of header, 64 KiB of body.
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(64 * 1024);
  boost::system::error_code ec;
  const auto raw = fuzz::as_text(data + 1, size - 1);
  std::size_t used = 0;
  while (!ec && !parser.is_done() && used < raw.size()) {
    const auto n = parser.put(net::buffer(raw.data() + used, raw.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) ec = {};
    if (n == 0) break;
  }
  if (ec || !parser.is_done()) return 0;
  const admin::request req = parser.release();

  auto loaded = conf::parse_config(config_json(tokens, metrics_auth));
  FUZZ_CHECK(loaded.ok());
  auto built = proxy::build_runtime(std::move(loaded.value));
  FUZZ_CHECK(built.value);
  const auto rt = built.value;
  auto control = std::make_unique<admin::control_plane>(rt);
  FUZZ_CHECK(control->restore().empty());
  auto api = std::make_unique<admin::admin_api>(*control);

  const auto before = nodes_of(*rt);
  const bool authorized = !tokens || control->tokens().check(req[http::field::authorization]).has_value();
  std::optional<admin::response> res;
  const std::string client = "192.0.2.9:50000";  // handle() keeps a reference: it must outlive the call
  // As the server does: admission from the header alone, then the whole request. A refused request never
  // reaches handle(), and changes nothing.
  const auto admitted = api->admit(req.base(), client);
  if (admitted.refused) {
    FUZZ_CHECK(admitted.refused->result_int() >= 400);
    FUZZ_CHECK(nodes_of(*rt) == before);
    return 0;
  }
  net::co_spawn(control->io(), api->handle(req, client, admitted.caller), [&](std::exception_ptr e, admin::response r) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        std::fprintf(stderr, "admin_api::handle threw: %s\n", x.what());
      }
      std::abort();
    }
    res = std::move(r);
  });
  const bool answered = fuzz::run_until(
      control->io(), [&] { return res.has_value(); }, [] { return false; });
  const auto after = nodes_of(*rt);
  if (!authorized) FUZZ_CHECK(after == before);
  // The coroutine that still waits goes with the io_context, before the API it runs in.
  control.reset();
  api.reset();
  if (!answered) {
    FUZZ_CHECK(std::string_view(req.target()).find("wait=") != std::string_view::npos);
    return 0;
  }

  const unsigned status = res->result_int();
  FUZZ_CHECK(status >= 100 && status <= 599);
  if (res->base()[http::field::content_type] == "application/json") {
    const auto body = nlohmann::json::parse(res->body(), nullptr, false);
    FUZZ_CHECK(!body.is_discarded());
    if (status >= 400) {
      FUZZ_CHECK(body.is_object() && body.contains("error") && body["error"].is_object());
      FUZZ_CHECK(body["error"].contains("code") && body["error"]["code"].is_string());
      FUZZ_CHECK(body["error"].contains("message") && body["error"]["message"].is_string());
    }
  }
  if (status == 405) FUZZ_CHECK(!res->base()[http::field::allow].empty());
  if (status >= 400) FUZZ_CHECK(after == before);
  return 0;
}
