// What OpenSSL allocates per idle server-side TLS connection, by where it allocated it: the library's part
// of bench/tls.sh's idle HTTPS memory (which is resident memory, so not byte for byte the same: a proxy's
// allocator rounds, and may not touch every allocated byte). Each connection does a TLS 1.3 handshake
// with an ECDSA P-256 certificate (as in bench/tls.sh) and one request and answer through memory BIOs,
// with SSL_MODE_RELEASE_BUFFERS as drawbridge sets it; then its BIOs are swapped for null ones (a proxy's
// socket BIO is about as small) and OpenSSL's allocations still live are counted.
// Not part of the build: bench/tls_state.sh compiles and runs it.
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct block {
  std::size_t size;
  bool server;       // allocated while the server side ran
  const char* file;  // OpenSSL's source file and line
  int line;
};
std::unordered_map<void*, block>* blocks;  // created before OpenSSL allocates anything
bool server_side = false;

void* on_malloc(std::size_t n, const char* file, int line) {
  void* p = std::malloc(n);
  if (p) (*blocks)[p] = {n, server_side, file, line};
  return p;
}
void on_free(void* p, const char*, int) {
  if (!p) return;
  blocks->erase(p);
  std::free(p);
}
void* on_realloc(void* p, std::size_t n, const char* file, int line) {
  if (!p) return on_malloc(n, file, line);
  const auto it = blocks->find(p);
  const bool server = it != blocks->end() ? it->second.server : server_side;
  if (it != blocks->end()) blocks->erase(it);
  void* q = std::realloc(p, n);
  if (q) (*blocks)[q] = {n, server, file, line};
  return q;
}

std::size_t server_bytes() {
  std::size_t n = 0;
  for (const auto& [p, b] : *blocks)
    if (b.server) n += b.size;
  return n;
}

// One end of a connection over memory BIOs; its allocations are counted on the side it belongs to.
struct endpoint {
  SSL* ssl;
  BIO* in;   // what the other end wrote, for this end to read
  BIO* out;  // what this end wrote
};
endpoint open_endpoint(SSL_CTX* ctx, bool server) {
  server_side = server;
  endpoint e{SSL_new(ctx), BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem())};
  SSL_set_bio(e.ssl, e.in, e.out);
  if (server)
    SSL_set_accept_state(e.ssl);
  else
    SSL_set_connect_state(e.ssl);
  server_side = false;
  return e;
}

// Moves what each side wrote to the other's read BIO.
void pump(BIO* from, BIO* to) {
  char buffer[16384];
  for (int n; (n = BIO_read(from, buffer, sizeof buffer)) > 0;) BIO_write(to, buffer, n);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: tls_state CERT.pem KEY.pem\n");
    return 2;
  }
  blocks = new std::unordered_map<void*, block>();
  if (CRYPTO_set_mem_functions(on_malloc, on_realloc, on_free) != 1) return 1;

  server_side = true;
  SSL_CTX* server_ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_mode(server_ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(server_ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_session_cache_mode(server_ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_AUTO_CLEAR);
  if (SSL_CTX_use_certificate_chain_file(server_ctx, argv[1]) != 1 ||
      SSL_CTX_use_PrivateKey_file(server_ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  server_side = false;
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());

  // One server connection, idle after a handshake and one request; its client end is kept too.
  std::vector<SSL*> servers, clients;
  auto connect_one = [&]() -> bool {
    const auto [s, s_in, s_out] = open_endpoint(server_ctx, true);
    const auto [c, c_in, c_out] = open_endpoint(client_ctx, false);
    for (int step = 0; step < 8 && !(SSL_is_init_finished(s) && SSL_is_init_finished(c)); ++step) {
      server_side = false;
      SSL_do_handshake(c);
      pump(c_out, s_in);
      server_side = true;
      SSL_do_handshake(s);
      pump(s_out, c_in);
    }
    if (!SSL_is_init_finished(s) || !SSL_is_init_finished(c)) {
      std::fprintf(stderr, "a handshake did not finish\n");
      ERR_print_errors_fp(stderr);
      return false;
    }
    char buffer[4096];
    static const char request[] = "GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n";
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    server_side = false;
    SSL_write(c, request, sizeof request - 1);
    pump(c_out, s_in);
    server_side = true;
    if (SSL_read(s, buffer, sizeof buffer) != sizeof request - 1) {
      std::fprintf(stderr, "the server did not read the request\n");
      return false;
    }
    SSL_write(s, answer, sizeof answer - 1);
    pump(s_out, c_in);
    SSL_read(s, buffer, sizeof buffer);  // nothing there: parks as an idle connection's read does
    server_side = false;
    if (SSL_read(c, buffer, sizeof buffer) != sizeof answer - 1) {
      std::fprintf(stderr, "the client did not read the answer\n");
      return false;
    }
    ERR_clear_error();
    server_side = true;
    SSL_set_bio(s, BIO_new(BIO_s_null()), BIO_new(BIO_s_null()));  // frees the memory BIOs
    server_side = false;
    servers.push_back(s);
    clients.push_back(c);
    return true;
  };

  // A first connection makes OpenSSL fetch its algorithms and fill its one-time state, which would
  // otherwise be spread over the connections counted.
  if (!connect_one()) return 1;
  constexpr int connections = 200;
  const std::size_t before = server_bytes();
  for (int i = 0; i < connections; ++i)
    if (!connect_one()) return 1;
  const std::size_t per_connection = (server_bytes() - before) / connections;

  // The last connection's blocks by where OpenSSL allocated them.
  SSL* last = servers.back();
  const std::size_t with_last = server_bytes();
  std::unordered_map<void*, block> before_free = *blocks;
  server_side = true;
  SSL_free(last);
  servers.pop_back();
  std::map<std::string, std::size_t> by_place;
  for (const auto& [p, b] : before_free)
    if (b.server && !blocks->count(p))
      by_place[std::string(b.file ? b.file : "?") + ":" + std::to_string(b.line)] += b.size;
  std::vector<std::pair<std::size_t, std::string>> sorted;
  for (const auto& [place, n] : by_place) sorted.emplace_back(n, place);
  std::sort(sorted.rbegin(), sorted.rend());

  std::printf(
      "%s: %zu bytes per idle server connection (%d connections, one request each; %ld sessions in "
      "the server's cache);\n",
      OpenSSL_version(OPENSSL_VERSION), per_connection, connections, SSL_CTX_sess_number(server_ctx));
  std::printf("one connection's %zu bytes by where OpenSSL allocated them:\n", with_last - server_bytes());
  for (const auto& [n, place] : sorted) std::printf("  %6zu  %s\n", n, place.c_str());
  return 0;
}
