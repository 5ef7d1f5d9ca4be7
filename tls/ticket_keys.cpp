#include "tls/ticket_keys.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <array>
#include <cstring>
#include <mutex>

namespace drawbridge::tls {
namespace {

struct ticket_key {
  std::array<unsigned char, 16> name{};
  std::array<unsigned char, 32> aes{};
  std::array<unsigned char, 32> hmac{};
  std::chrono::steady_clock::time_point created{};
  bool valid = false;
};

class key_ring {
 public:
  // The key to encrypt with now, rotating first when it is due.
  ticket_key current() {
    const std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (!current_.valid || now - current_.created >= ticket_key_rotation) {
      previous_ = current_;
      current_ = fresh(now);
    }
    return current_;
  }
  // The key a ticket names (the current one or the previous one).
  bool find(const unsigned char* name, ticket_key& out) {
    const std::lock_guard lock(mutex_);
    for (const auto* k : {&current_, &previous_}) {
      if (k->valid && std::memcmp(k->name.data(), name, k->name.size()) == 0) {
        out = *k;
        return true;
      }
    }
    return false;
  }

 private:
  static ticket_key fresh(std::chrono::steady_clock::time_point now) {
    ticket_key k;
    k.valid = RAND_bytes(k.name.data(), k.name.size()) == 1 && RAND_bytes(k.aes.data(), k.aes.size()) == 1 &&
              RAND_bytes(k.hmac.data(), k.hmac.size()) == 1;
    k.created = now;
    return k;
  }
  std::mutex mutex_;
  ticket_key current_;
  ticket_key previous_;
};

key_ring& ring() {
  static key_ring keys;
  return keys;
}

bool set_mac_key(EVP_MAC_CTX* mac, const ticket_key& k) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(k.hmac.data()), k.hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(mac, params) == 1;
}

// Fetched once: given EVP_aes_256_cbc(), OpenSSL 3 looks the algorithm up by name (a search under a lock)
// on every use, three times per new connection.
const EVP_CIPHER* ticket_cipher() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  return cipher;
}

// OpenSSL's contract: 1 = done, 2 = done and issue a new ticket, 0 = unknown key (full handshake),
// -1 = error.
int ticket_callback(SSL*, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                    int encrypt) {
  if (encrypt) {
    const auto k = ring().current();
    if (!k.valid || !ticket_cipher() || RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1) return -1;
    std::memcpy(key_name, k.name.data(), k.name.size());
    if (EVP_EncryptInit_ex(cipher, ticket_cipher(), nullptr, k.aes.data(), iv) != 1 || !set_mac_key(mac, k)) return -1;
    return 1;
  }
  ticket_key k;
  if (!ring().find(key_name, k)) return 0;
  if (!ticket_cipher() || EVP_DecryptInit_ex(cipher, ticket_cipher(), nullptr, k.aes.data(), iv) != 1 ||
      !set_mac_key(mac, k))
    return -1;
  // Always 2 ("accepted, issue a new ticket"): a TLS 1.3 client uses a ticket once, so a resumed
  // connection must get a fresh one or the client's next connection is a full handshake (measured: with
  // 1 here, every other handshake of a reconnecting client was a full one). It also renews tickets made
  // with the previous key.
  return 2;
}

}  // namespace

void use_rotating_ticket_keys(SSL_CTX* ctx) { SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_callback); }

}  // namespace drawbridge::tls
