#pragma once
// What ACME (RFC 8555 §6.2) signs requests with: JSON Web Signatures (RFC 7515, flattened JSON
// serialization) over ES256 with the account's P-256 key, the key as a JWK (RFC 7517) and its thumbprint
// (RFC 7638, part of every key authorization), and the HS256 binding of External Account Binding.

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "tls/certificate.hpp"

namespace drawbridge::acme {

// Base64url without padding (RFC 7515 §2), both ways. Decoding accepts padding and refuses anything
// else outside the alphabet.
std::string base64url(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

std::array<unsigned char, 32> sha256(std::string_view bytes);

// The public half of a P-256 key: {"crv":"P-256","kty":"EC","x":..,"y":..}.
nlohmann::json public_jwk(EVP_PKEY* key);
// base64url(SHA-256 of the JWK's canonical form: its members sorted, no whitespace).
std::string jwk_thumbprint(EVP_PKEY* key);

// {"protected":..,"payload":..,"signature":..} signed with ES256 (the signature is r||s, 32 bytes each,
// not DER). `payload` is the JSON text to sign; empty for a POST-as-GET (RFC 8555 §6.3).
nlohmann::json sign_es256(EVP_PKEY* key, const nlohmann::json& protected_header, std::string_view payload);

// The externalAccountBinding member of a newAccount request (RFC 8555 §7.3.4): the account's JWK signed
// with HS256 under the CA-issued MAC key (base64url), naming `kid` and the newAccount `url`. nullopt when
// the MAC key does not decode.
std::optional<nlohmann::json> external_account_binding(EVP_PKEY* account_key, const std::string& kid,
                                                       const std::string& mac_key, const std::string& url);

}  // namespace drawbridge::acme
