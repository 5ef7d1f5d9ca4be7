#include "tls/certificate.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace drawbridge::tls {

void x509_deleter::operator()(X509* x) const { X509_free(x); }
void pkey_deleter::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

namespace {

struct bio_deleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;

// The whole file; false with errno set when it cannot be read. Certificate files are small.
bool read_file(const std::string& path, std::string& out) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  char chunk[4096];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) {
    out.append(chunk, n);
    if (out.size() > (1U << 20)) {  // no certificate chain is a megabyte: a wrong path (a device, a log)
      std::fclose(f);
      errno = EFBIG;
      return false;
    }
  }
  const bool ok = !std::ferror(f);
  std::fclose(f);
  if (!ok) errno = EIO;
  return ok;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The most recent OpenSSL error as text (and the queue cleared), for messages.
std::string openssl_error() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

std::vector<std::string> names_of(X509* cert) {
  std::vector<std::string> names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      if (name->type != GEN_DNS) continue;
      const auto* data = ASN1_STRING_get0_data(name->d.dNSName);
      names.push_back(lower(std::string(reinterpret_cast<const char*>(data),
                                        static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName)))));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {  // no SAN DNS names: the subject's common name, as older certificates do
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0)
      names.push_back(lower(cn));
  }
  return names;
}

std::chrono::system_clock::time_point time_of(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

std::optional<certificate> load_certificate(const std::string& cert_path, const std::string& key_path,
                                            std::string& error) {
  std::string chain_pem, key_pem;
  if (!read_file(cert_path, chain_pem)) {
    error = cert_path + ": cannot read the certificate file: " + std::strerror(errno);
    return std::nullopt;
  }
  if (!read_file(key_path, key_pem)) {
    error = key_path + ": cannot read the key file: " + std::strerror(errno);
    return std::nullopt;
  }
  return parse_certificate(chain_pem, key_pem, cert_path, key_path, error);
}

std::optional<certificate> load_certificate_bundle(const std::string& path, std::string& error) {
  std::string pem;
  if (!read_file(path, pem)) {
    error = path + ": cannot read the certificate file: " + std::strerror(errno);
    return std::nullopt;
  }
  return parse_certificate(pem, pem, path, path, error);
}

std::optional<certificate> parse_certificate(std::string_view chain_pem, std::string_view key_pem,
                                             const std::string& cert_label, const std::string& key_label,
                                             std::string& error) {
  ERR_clear_error();
  bio_ptr chain_bio(BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size())));
  certificate c;
  c.leaf.reset(PEM_read_bio_X509(chain_bio.get(), nullptr, nullptr, nullptr));
  if (!c.leaf) {
    error = cert_label + ": no PEM certificate in the file";
    ERR_clear_error();
    return std::nullopt;
  }
  while (X509* next = PEM_read_bio_X509(chain_bio.get(), nullptr, nullptr, nullptr)) c.chain.emplace_back(next);
  ERR_clear_error();  // the end of the input reads as an error

  bio_ptr key_bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  c.key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!c.key) {
    error = key_label + ": no PEM private key in the file (" + openssl_error() + ")";
    return std::nullopt;
  }
  if (X509_check_private_key(c.leaf.get(), c.key.get()) != 1) {
    ERR_clear_error();
    error = key_label + ": the key does not match the certificate in " + cert_label;
    return std::nullopt;
  }
  describe(c);
  return c;
}

void describe(certificate& c) {
  c.names = names_of(c.leaf.get());
  char line[512];
  X509_NAME_oneline(X509_get_subject_name(c.leaf.get()), line, sizeof line);
  c.subject = line;
  X509_NAME_oneline(X509_get_issuer_name(c.leaf.get()), line, sizeof line);
  c.issuer = line;
  c.not_before = time_of(X509_get0_notBefore(c.leaf.get()));
  c.not_after = time_of(X509_get0_notAfter(c.leaf.get()));
}

bool name_matches(std::string_view pattern, std::string_view host) {
  if (pattern.empty() || host.empty()) return false;
  if (pattern.size() > 2 && pattern.substr(0, 2) == "*.") {
    const auto dot = host.find('.');
    if (dot == std::string_view::npos || dot == 0) return false;
    return host.substr(dot) == pattern.substr(1);
  }
  return pattern == host;
}

std::size_t select_certificate(const std::vector<std::vector<std::string>>& names, std::string_view host) {
  // Exact names first, across all certificates, then wildcards: the most specific certificate wins.
  for (bool wildcards : {false, true})
    for (std::size_t i = 0; i < names.size(); ++i)
      for (const auto& name : names[i])
        if ((name.rfind("*.", 0) == 0) == wildcards && name_matches(name, host)) return i;
  return 0;
}

}  // namespace drawbridge::tls
