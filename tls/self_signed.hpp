#pragma once
// Certificates drawbridge makes for itself: the placeholder an ACME listener serves until its first order
// completes, and the TLS-ALPN-01 challenge certificate (RFC 8737) that proves control of a name to the CA.
// Both are self-signed with a fresh P-256 key, which also serves for the ACME account and orders.

#include <array>
#include <chrono>
#include <string>
#include <vector>

#include "tls/certificate.hpp"

namespace drawbridge::tls {

// A fresh ECDSA P-256 key (throws std::runtime_error if OpenSSL cannot make one).
pkey_ptr new_p256_key();

// PEM text of a private key (PKCS #8, unencrypted) and of a certificate.
std::string key_to_pem(EVP_PKEY* key);
std::string certificate_to_pem(X509* cert);

// A self-signed certificate for `names` (subjectAltName DNS entries; the first is the subject's CN),
// valid from an hour ago (clock skew) for `lifetime`, with a new key. `acme_identifier`, when given, is
// the SHA-256 of a key authorization, carried in the critical id-pe-acmeIdentifier extension
// (1.3.6.1.5.5.7.1.31) that makes it a TLS-ALPN-01 answer. Throws std::runtime_error on OpenSSL failure.
certificate make_self_signed(const std::vector<std::string>& names, std::chrono::seconds lifetime,
                             const std::array<unsigned char, 32>* acme_identifier = nullptr);

}  // namespace drawbridge::tls
