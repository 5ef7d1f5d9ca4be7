// A TLS client's first bytes as an ACME listener takes them (tls/server_contexts.cpp): OpenSSL's record and
// ClientHello parsing, then drawbridge's own reading of the raw SNI and ALPN extensions (the TLS-ALPN-01
// answer, which runs before OpenSSL has checked them), SNI selection and ALPN. A TLS-ALPN-01 challenge is
// open for "a.test" throughout.
//
// Input: the bytes a client sends (a ClientHello record, in the seeds).
// Checks: a handshake that chose ALPN "acme-tls/1" asked for a.test (in any case) and presents the challenge
// certificate; one that chose another protocol does not present it.

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <cctype>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_support.hpp"
#include "tls/acme_challenges.hpp"
#include "tls/self_signed.hpp"
#include "tls/server_contexts.hpp"

using namespace drawbridge;

namespace {

struct listener_tls {
  listener_tls() {
    conf::acme_config acme;
    acme.directory = "https://ca.test/dir";
    acme.domains = {"a.test", "b.test"};
    acme.challenge = "tls-alpn-01";
    acme.storage = "/nonexistent/drawbridge-fuzz";  // nothing stored: the placeholder
    conf::listener_tls_config config;
    config.acme = acme;
    std::string error;
    contexts = tls::server_contexts::build(config, error);
    FUZZ_CHECK(contexts != nullptr);
    const std::array<unsigned char, 32> digest{};
    challenge =
        std::make_shared<const tls::certificate>(tls::make_self_signed({"a.test"}, std::chrono::hours(1), &digest));
    tls::acme_challenges::instance().add_tls_alpn("a.test", challenge);
  }
  std::shared_ptr<const tls::server_contexts> contexts;
  std::shared_ptr<const tls::certificate> challenge;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const listener_tls listener;
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(listener.contexts->default_context().native_handle()),
                                                SSL_free);
  BIO* in = BIO_new_mem_buf(data, static_cast<int>(size));
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out);  // owned by the SSL from here
  SSL_set_accept_state(ssl.get());
  SSL_do_handshake(ssl.get());  // as far as the input goes: a ServerHello, an alert, or a wait for more
  ERR_clear_error();

  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl.get(), &protocol, &length);
  const bool validation = std::string_view(reinterpret_cast<const char*>(protocol), length) == "acme-tls/1";
  X509* presented = SSL_get_certificate(ssl.get());
  if (validation) {
    const char* requested = SSL_get_servername(ssl.get(), TLSEXT_NAMETYPE_host_name);
    FUZZ_CHECK(requested != nullptr);
    std::string name(requested);  // DNS names compare without case ("a.Test" is a.test)
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    FUZZ_CHECK(name == "a.test");
    FUZZ_CHECK(presented == listener.challenge->leaf.get());
  } else if (length > 0) {
    // Another protocol was chosen (h2, http/1.1): an ordinary handshake, never the challenge's certificate.
    FUZZ_CHECK(presented != listener.challenge->leaf.get());
  }
  return 0;
}
