#include "acme/jws.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <memory>
#include <stdexcept>

namespace drawbridge::acme {

namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct bn_deleter {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using bn_ptr = std::unique_ptr<BIGNUM, bn_deleter>;

// A P-256 coordinate as 32 big-endian bytes.
std::string coordinate(EVP_PKEY* key, const char* name) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) throw std::runtime_error("the account key is not an EC key");
  bn_ptr value(raw);
  std::string out(32, '\0');
  if (BN_bn2binpad(value.get(), reinterpret_cast<unsigned char*>(out.data()), 32) != 32)
    throw std::runtime_error("the account key is not a P-256 key");
  return out;
}

}  // namespace

std::string base64url(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(buffer >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(alphabet[(buffer << (6 - bits)) & 0x3f]);
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    int value = -1;
    if (c >= 'A' && c <= 'Z')
      value = c - 'A';
    else if (c >= 'a' && c <= 'z')
      value = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      value = c - '0' + 52;
    else if (c == '-')
      value = 62;
    else if (c == '_')
      value = 63;
    if (value < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  if (bits >= 6) return std::nullopt;  // a lone trailing character carries no whole byte
  return out;
}

std::array<unsigned char, 32> sha256(std::string_view bytes) {
  std::array<unsigned char, 32> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest.data());
  return digest;
}

nlohmann::json public_jwk(EVP_PKEY* key) {
  return {{"crv", "P-256"},
          {"kty", "EC"},
          {"x", base64url(coordinate(key, OSSL_PKEY_PARAM_EC_PUB_X))},
          {"y", base64url(coordinate(key, OSSL_PKEY_PARAM_EC_PUB_Y))}};
}

std::string jwk_thumbprint(EVP_PKEY* key) {
  // nlohmann::json keeps members sorted and dump() writes no whitespace: RFC 7638's canonical form.
  const auto digest = sha256(public_jwk(key).dump());
  return base64url({reinterpret_cast<const char*>(digest.data()), digest.size()});
}

nlohmann::json sign_es256(EVP_PKEY* key, const nlohmann::json& protected_header, std::string_view payload) {
  const std::string protected_b64 = base64url(protected_header.dump());
  const std::string payload_b64 = base64url(payload);
  const std::string input = protected_b64 + "." + payload_b64;

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::size_t der_size = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &der_size, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1)
    throw std::runtime_error("cannot sign with the account key");
  std::string der(der_size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &der_size,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    throw std::runtime_error("cannot sign with the account key");
  // OpenSSL writes ECDSA signatures in DER; JWS wants r and s, 32 bytes each (RFC 7518 §3.4).
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_size)),
                                                            ECDSA_SIG_free);
  if (!sig) throw std::runtime_error("cannot read OpenSSL's ECDSA signature");
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + 32, 32) != 32)
    throw std::runtime_error("an ECDSA signature component is longer than 32 bytes");
  return {{"protected", protected_b64}, {"payload", payload_b64}, {"signature", base64url(raw)}};
}

std::optional<nlohmann::json> external_account_binding(EVP_PKEY* account_key, const std::string& kid,
                                                       const std::string& mac_key, const std::string& url) {
  const auto secret = base64url_decode(mac_key);
  if (!secret || secret->empty()) return std::nullopt;
  const nlohmann::json header{{"alg", "HS256"}, {"kid", kid}, {"url", url}};
  const std::string protected_b64 = base64url(header.dump());
  const std::string payload_b64 = base64url(public_jwk(account_key).dump());
  const std::string input = protected_b64 + "." + payload_b64;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  if (!HMAC(EVP_sha256(), secret->data(), static_cast<int>(secret->size()),
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_size))
    return std::nullopt;
  return nlohmann::json{{"protected", protected_b64},
                        {"payload", payload_b64},
                        {"signature", base64url({reinterpret_cast<const char*>(mac), mac_size})}};
}

}  // namespace drawbridge::acme
