#include "acme/jws.hpp"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tls/self_signed.hpp"

using namespace drawbridge;
using nlohmann::json;

namespace {

// Checks an ES256 JWS the way a CA does: r||s back to DER, verified over "protected.payload".
bool verifies(EVP_PKEY* key, const json& jws) {
  const auto signature = acme::base64url_decode(jws["signature"].get<std::string>());
  if (!signature || signature->size() != 64) return false;
  const auto* raw = reinterpret_cast<const unsigned char*>(signature->data());
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, nullptr), BN_bin2bn(raw + 32, 32, nullptr));
  unsigned char* der = nullptr;
  const int der_size = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  const std::string input = jws["protected"].get<std::string>() + "." + jws["payload"].get<std::string>();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(ctx, der, static_cast<std::size_t>(der_size),
                                   reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  return ok;
}

}  // namespace

TEST(jws, base64url_round_trips_without_padding_and_refuses_other_alphabets) {
  EXPECT_EQ(acme::base64url(""), "");
  EXPECT_EQ(acme::base64url("f"), "Zg");
  EXPECT_EQ(acme::base64url("fo"), "Zm8");
  EXPECT_EQ(acme::base64url("foo"), "Zm9v");
  EXPECT_EQ(acme::base64url(std::string("\xfb\xff", 2)), "-_8");  // '+' and '/' in base64
  EXPECT_EQ(acme::base64url_decode("-_8"), std::string("\xfb\xff", 2));
  EXPECT_EQ(acme::base64url_decode("Zm9vYg=="), "foob");
  EXPECT_FALSE(acme::base64url_decode("Zm9v+/").has_value());
  EXPECT_FALSE(acme::base64url_decode("Z").has_value());
}

TEST(jws, an_es256_signature_verifies_with_the_jwk_the_header_carries) {
  auto key = tls::new_p256_key();
  const auto jwk = acme::public_jwk(key.get());
  EXPECT_EQ(jwk["kty"], "EC");
  EXPECT_EQ(jwk["crv"], "P-256");
  EXPECT_EQ(acme::base64url_decode(jwk["x"].get<std::string>())->size(), 32U);
  const json header{{"alg", "ES256"}, {"nonce", "n1"}, {"url", "https://ca.test/new-order"}, {"jwk", jwk}};
  const auto jws = acme::sign_es256(key.get(), header, R"({"identifiers":[]})");
  EXPECT_TRUE(verifies(key.get(), jws));
  EXPECT_EQ(json::parse(*acme::base64url_decode(jws["protected"].get<std::string>())), header);
  EXPECT_EQ(*acme::base64url_decode(jws["payload"].get<std::string>()), R"({"identifiers":[]})");

  // A POST-as-GET signs an empty payload; another key's signature does not verify.
  const auto get = acme::sign_es256(key.get(), header, "");
  EXPECT_EQ(get["payload"], "");
  EXPECT_TRUE(verifies(key.get(), get));
  auto other = tls::new_p256_key();
  EXPECT_FALSE(verifies(other.get(), jws));
}

TEST(jws, the_thumbprint_is_the_sha256_of_the_jwk_members_in_order_without_whitespace) {
  auto key = tls::new_p256_key();
  const auto jwk = acme::public_jwk(key.get());
  const std::string canonical = R"({"crv":"P-256","kty":"EC","x":")" + jwk["x"].get<std::string>() + R"(","y":")" +
                                jwk["y"].get<std::string>() + R"("})";
  const auto digest = acme::sha256(canonical);
  EXPECT_EQ(acme::jwk_thumbprint(key.get()),
            acme::base64url({reinterpret_cast<const char*>(digest.data()), digest.size()}));
  EXPECT_EQ(acme::jwk_thumbprint(key.get()).size(), 43U);
}

TEST(jws, an_external_account_binding_is_the_jwk_signed_with_hs256_under_the_mac_key) {
  auto key = tls::new_p256_key();
  const std::string mac_key = acme::base64url("0123456789abcdef0123456789abcdef");
  const auto binding = acme::external_account_binding(key.get(), "kid-1", mac_key, "https://ca.test/new-account");
  ASSERT_TRUE(binding.has_value());
  const auto header = json::parse(*acme::base64url_decode((*binding)["protected"].get<std::string>()));
  EXPECT_EQ(header, (json{{"alg", "HS256"}, {"kid", "kid-1"}, {"url", "https://ca.test/new-account"}}));
  EXPECT_EQ(json::parse(*acme::base64url_decode((*binding)["payload"].get<std::string>())),
            acme::public_jwk(key.get()));
  const std::string input = (*binding)["protected"].get<std::string>() + "." + (*binding)["payload"].get<std::string>();
  unsigned char mac[32];
  unsigned int size = 0;
  HMAC(EVP_sha256(), "0123456789abcdef0123456789abcdef", 32, reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &size);
  EXPECT_EQ((*binding)["signature"], acme::base64url({reinterpret_cast<const char*>(mac), size}));
  EXPECT_FALSE(acme::external_account_binding(key.get(), "kid-1", "not base64url!", "u").has_value());
}
