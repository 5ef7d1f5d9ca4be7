#pragma once
// A certificate chain and its private key as a TLS listener serves them, loaded from PEM files and checked
// before use: readable files, at least one certificate, a key that matches the leaf. The names it answers
// for (subjectAltName DNS entries, else the subject's CN) drive SNI selection.

#include <openssl/types.h>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace drawbridge::tls {

struct x509_deleter {
  void operator()(X509* x) const;
};
struct pkey_deleter {
  void operator()(EVP_PKEY* k) const;
};
using x509_ptr = std::unique_ptr<X509, x509_deleter>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

struct certificate {
  x509_ptr leaf;
  std::vector<x509_ptr> chain;  // intermediates, in file order
  pkey_ptr key;
  std::vector<std::string> names;  // lower-case DNS names, wildcards as written ("*.example.com")
  std::string subject;             // one line, for logs
  std::string issuer;              // one line
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
};

// Reads and checks a chain and key. nullopt with `error` saying what is wrong and naming the file.
std::optional<certificate> load_certificate(const std::string& cert_path, const std::string& key_path,
                                            std::string& error);

// A chain and its key from one file, read once (so that a writer replacing it can never pair one file's
// certificate with another's key).
std::optional<certificate> load_certificate_bundle(const std::string& path, std::string& error);

// The same from PEM text (a chain, leaf first, and its key); the labels name them in errors.
std::optional<certificate> parse_certificate(std::string_view chain_pem, std::string_view key_pem,
                                             const std::string& cert_label, const std::string& key_label,
                                             std::string& error);

// Fills names, subject, issuer, not_before and not_after from the leaf.
void describe(certificate& c);

// Whether a certificate name ("api.example.com" or "*.example.com") covers `host` (lower-case, no port).
// A wildcard stands for exactly one leftmost label: "*.example.com" covers "a.example.com", not
// "example.com" nor "a.b.example.com".
bool name_matches(std::string_view pattern, std::string_view host);

// Index of the first certificate with a name covering `host`, else 0 (the default certificate).
std::size_t select_certificate(const std::vector<std::vector<std::string>>& names, std::string_view host);

}  // namespace drawbridge::tls
