#include "tests/support/fake_node.hpp"

#include <openssl/evp.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <map>
#include <mutex>
#include <set>
#include <string_view>
#include <tuple>

namespace drawbridge::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

namespace {

std::map<std::string, std::string> parse_query(std::string_view target) {
  std::map<std::string, std::string> out;
  const auto q = target.find('?');
  if (q == std::string_view::npos) return out;
  auto rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const auto pair = rest.substr(0, amp);
    const auto eq = pair.find('=');
    out[std::string(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return out;
}

// %XX escapes in a query value ("no-transform%2C%20max-age%3D60").
std::string percent_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

std::uint64_t number(const std::map<std::string, std::string>& q, const char* key) {
  const auto it = q.find(key);
  return it == q.end() ? 0 : std::stoull(it->second);
}

std::string json_escape(std::string_view in) {
  std::string out;
  for (char c : in) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

class sha256 {
 public:
  sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~sha256() { EVP_MD_CTX_free(ctx_); }
  void update(const void* data, std::size_t n) { EVP_DigestUpdate(ctx_, data, n); }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx_, digest, &len);
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out += digits[digest[i] >> 4];
      out += digits[digest[i] & 0xF];
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

}  // namespace

struct fake_node::impl {
  fake_node_options options;
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> open_count{0};
  std::atomic<bool> healthy{true};
  mutable std::mutex version_mutex;  // options.version: set_version() may change it from another thread
  mutable std::mutex recorded_mutex;
  std::vector<std::string> recorded;
  std::set<std::shared_ptr<beast::tcp_stream>> open;  // io thread only
  std::uint16_t port = 0;
  std::thread thread;
  bool stopped = false;

  bool starting() const { return std::chrono::steady_clock::now() - started < options.start_delay; }

  net::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
      if (ec) co_return;
      const auto id = ++connections;
      auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
      open.insert(stream);
      ++open_count;
      net::co_spawn(ioc, serve(stream, id), net::detached);
    }
  }

  net::awaitable<void> serve(std::shared_ptr<beast::tcp_stream> stream, std::uint64_t connection_id) {
    beast::flat_buffer buffer;
    std::vector<char> chunk(64 * 1024);
    bool die_on_next = false;
    for (std::uint64_t n = 1;; ++n) {
      http::request_parser<http::buffer_body> parser;
      parser.body_limit(boost::none);
      stream->expires_after(std::chrono::seconds(120));
      auto [ec, bytes] = co_await http::async_read_header(*stream, buffer, parser, use_tuple);
      if (ec) break;
      ++requests;
      const auto& req = parser.get();
      const std::string target(req.target());
      const auto query = parse_query(target);
      const std::string path = target.substr(0, target.find('?'));

      if (!options.record_header.empty()) {
        const std::string value(req[options.record_header]);
        {
          const std::lock_guard lock(recorded_mutex);
          recorded.push_back(value);
        }
        if (options.on_record) options.on_record(value);
      }
      if (die_on_next) break;
      if (options.mode == fake_node_options::behaviour::stall) {
        // Hold the connection, reading (and dropping) whatever comes, until the peer closes it.
        auto [sec, sn] = co_await stream->async_read_some(net::buffer(chunk), use_tuple);
        while (!sec) std::tie(sec, sn) = co_await stream->async_read_some(net::buffer(chunk), use_tuple);
        break;
      }
      const bool reset_this = options.reset_every != 0 && n == 1 && connection_id % options.reset_every == 0;
      if (reset_this || query.count("reset") || options.mode == fake_node_options::behaviour::reset) {
        stream->socket().set_option(net::socket_base::linger(true, 0));
        break;
      }
      if (query.count("garbage") || options.mode == fake_node_options::behaviour::garbage) {
        static constexpr std::string_view junk = "this is not HTTP at all\r\n\r\n";
        co_await net::async_write(*stream, net::buffer(junk), use_tuple);
        break;
      }
      if (websocket::is_upgrade(req)) {
        // A WebSocket echo: every message comes back as it was sent, until either side closes.
        websocket::stream<beast::tcp_stream&> ws(*stream);
        stream->expires_never();
        auto [aec] = co_await ws.async_accept(req, use_tuple);
        while (!aec) {
          beast::flat_buffer message;
          auto [rec, rn] = co_await ws.async_read(message, use_tuple);
          if (rec) break;
          ws.text(ws.got_text());
          auto [wec, wn] = co_await ws.async_write(message.data(), use_tuple);
          if (wec) break;
        }
        break;
      }
      if (const auto delay = number(query, "delay_ms")) {
        net::steady_timer timer(ioc, std::chrono::milliseconds(delay));
        co_await timer.async_wait(use_tuple);
      }

      // Read the body (hashing it), whatever the path.
      sha256 hash;
      std::uint64_t body_bytes = 0;
      bool body_failed = false;
      while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        auto [rec, rn] = co_await http::async_read(*stream, buffer, parser, use_tuple);
        if (rec == http::error::need_buffer) rec = {};
        if (rec) {
          body_failed = true;
          break;
        }
        const auto got = chunk.size() - parser.get().body().size;
        hash.update(chunk.data(), got);
        body_bytes += got;
      }

      if (body_failed) break;
      http::response<http::string_body> res;
      res.version(11);
      res.set(http::field::server, "fake-node");
      res.set("X-Node", options.name);
      res.set(http::field::content_type, "application/json");
      bool keep = parser.keep_alive() && !query.count("close");
      // silent_close: the answer says nothing of a close (keep-alive, as HTTP/1.1 goes), then the node
      // closes the connection anyway.
      const bool silent_close = query.count("silent_close") > 0;
      die_on_next = query.count("die_on_next") > 0;
      std::string body;
      unsigned status = 200;
      // While it boots, an Appsmith node's own front answers 502 to everything, in plain text.
      const bool booting = starting();
      std::string version;
      {
        const std::lock_guard lock(version_mutex);
        version = options.version;
      }
      const std::string client_version(req["X-Appsmith-Version"]);
      if (!booting && !version.empty()) res.set("X-Appsmith-Version", version);
      if (booting) {
        status = 502;
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        body = "502 Bad Gateway";
      } else if (!version.empty() && path.starts_with("/api/") && !client_version.empty() &&
                 client_version != version) {
        // What Appsmith's server answers a client of another build (its VersionHeaderFilter's check).
        status = 400;
        body = R"({"responseMeta":{"status":400,"success":false,"error":{"code":"AE-BAD-4002",)"
               R"("errorType":"BAD_REQUEST","message":"Version mismatch: expected ')" +
               json_escape(version) + "', got '" + json_escape(client_version) + "'\"}}}";
      } else if (!version.empty() && path == "/info") {
        body = R"({"version":")" + json_escape(version) + R"(","commitSha":"demo","githubRef":"demo","isCI":false})";
      } else if (!version.empty() && (path == "/" || path == "/index.html")) {
        res.set(http::field::content_type, "text/html; charset=utf-8");
        res.set(http::field::cache_control, "no-cache");
        body = "<!doctype html><html><head><title>Appsmith</title><script src=\"/static/js/main.";
        body.append(version).append(".js\"></script></head><body>demo node ").append(options.name);
        body.append(", version ").append(version).append("</body></html>\n");
      } else if (!version.empty() && path.starts_with("/static/")) {
        if (path == "/static/js/main." + version + ".js") {
          res.set(http::field::content_type, "application/javascript");
          body = "window.appsmithVersion = \"" + version + "\";\n";
        } else {
          status = 404;  // another build's hashed bundle (Appsmith's Caddy answers 404 under /static/)
          res.set(http::field::content_type, "text/plain; charset=utf-8");
          body = "404 Not Found";
        }
      } else if (path == "/api/v1/health") {
        if (healthy.load()) {
          body = R"({"responseMeta":{"status":200,"success":true},"data":"All systems are up"})";
        } else {
          status = 503;
          body = R"({"responseMeta":{"status":503,"success":false},"data":"unhealthy"})";
        }
      } else if (path == "/upload") {
        body = "{\"node\":\"" + options.name + "\",\"bytes\":" + std::to_string(body_bytes) + ",\"sha256\":\"" +
               hash.hex() + "\"}";
      } else if (!query.count("bytes")) {
        body = "{\"node\":\"" + options.name + "\",\"method\":\"" + std::string(req.method_string()) +
               "\",\"path\":\"" + json_escape(target) + "\",\"connection\":" + std::to_string(connection_id) +
               ",\"request\":" + std::to_string(n) + ",\"body_bytes\":" + std::to_string(body_bytes) + ",\"headers\":{";
        bool first = true;
        for (const auto& f : req) {
          if (!first) body += ',';
          first = false;
          body += "\"" + json_escape(f.name_string()) + "\":\"" + json_escape(f.value()) + "\"";
        }
        body += "}}";
      }
      if (query.count("status") && !booting) status = static_cast<unsigned>(number(query, "status"));
      res.result(status);
      res.keep_alive(keep);
      // h_NAME=VALUE: a response header of the test's choosing (replacing the default of that name).
      for (const auto& [key, value] : query)
        if (key.starts_with("h_") && key.size() > 2) res.set(key.substr(2), percent_decode(value));

      const auto large = number(query, "bytes");
      if (booting || (!query.count("bytes") && !query.count("stall_ms"))) {
        res.body() = std::move(body);
        res.prepare_payload();
        stream->expires_after(std::chrono::seconds(120));
        http::response_serializer<http::string_body> rs(res);
        auto [wec, wn] = req.method() == http::verb::head ? co_await http::async_write_header(*stream, rs, use_tuple)
                                                          : co_await http::async_write(*stream, rs, use_tuple);
        if (wec || !keep || silent_close) break;
        continue;
      }
      // Streamed body: `bytes` of a repeating pattern, optionally chunked, optionally stalled.
      http::response<http::buffer_body> streamed{res.base()};
      if (query.count("chunked"))
        streamed.chunked(true);
      else
        streamed.content_length(large);
      http::response_serializer<http::buffer_body> sr(streamed);
      auto [hec, hn] = co_await http::async_write_header(*stream, sr, use_tuple);
      if (hec) break;
      if (req.method() == http::verb::head) {  // the head of what GET would send, and no body
        if (!keep) break;
        continue;
      }
      if (const auto stall = number(query, "stall_ms")) {
        net::steady_timer timer(ioc, std::chrono::milliseconds(stall));
        co_await timer.async_wait(use_tuple);
      }
      std::fill(chunk.begin(), chunk.end(), 'x');
      std::uint64_t left = large;
      bool failed = false;
      do {
        const auto n_now = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
        streamed.body().data = n_now ? chunk.data() : nullptr;
        streamed.body().size = n_now;
        left -= n_now;
        streamed.body().more = left > 0;
        auto [bec, bn] = co_await http::async_write(*stream, sr, use_tuple);
        if (bec == http::error::need_buffer) bec = {};
        if (bec) failed = true;
      } while (!failed && left > 0);
      if (failed || !keep) break;
    }
    boost::system::error_code ignored;
    stream->socket().close(ignored);
    open.erase(stream);
    --open_count;
  }
};

fake_node::fake_node(fake_node_options options) : impl_(std::make_unique<impl>()) {
  impl_->options = std::move(options);
  const tcp::endpoint endpoint(net::ip::make_address(impl_->options.host), impl_->options.port);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  impl_->port = impl_->acceptor.local_endpoint().port();
  net::co_spawn(impl_->ioc, impl_->accept_loop(), net::detached);
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

fake_node::~fake_node() {
  stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::uint16_t fake_node::port() const { return impl_->port; }
const std::string& fake_node::name() const { return impl_->options.name; }
std::uint64_t fake_node::connections() const { return impl_->connections.load(); }
std::uint64_t fake_node::requests() const { return impl_->requests.load(); }
std::uint64_t fake_node::open_connections() const { return impl_->open_count.load(); }
void fake_node::set_healthy(bool healthy) { impl_->healthy.store(healthy); }
void fake_node::set_version(const std::string& version) {
  const std::lock_guard lock(impl_->version_mutex);
  impl_->options.version = version;
}
std::vector<std::string> fake_node::recorded() const {
  const std::lock_guard lock(impl_->recorded_mutex);
  return impl_->recorded;
}

void fake_node::stop() {
  net::post(impl_->ioc, [i = impl_.get()] {
    if (i->stopped) return;
    i->stopped = true;
    boost::system::error_code ignored;
    i->acceptor.close(ignored);
    for (const auto& s : i->open) s->socket().close(ignored);
    i->ioc.stop();  // coroutines sleeping in a scripted delay are not waited for
  });
  // Wait until the acceptor is closed, so that "stopped" really means "refuses connections".
  if (impl_->thread.joinable() && impl_->thread.get_id() != std::this_thread::get_id()) {
    impl_->thread.join();
  }
}

}  // namespace drawbridge::testing
