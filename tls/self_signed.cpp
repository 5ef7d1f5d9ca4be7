#include "tls/self_signed.hpp"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>

namespace drawbridge::tls {

namespace {

[[noreturn]] void fail(const char* what) {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  char text[256] = "unknown OpenSSL error";
  if (code != 0) ERR_error_string_n(code, text, sizeof text);
  throw std::runtime_error(std::string(what) + ": " + text);
}

struct bio_deleter {
  void operator()(BIO* b) const { BIO_free(b); }
};

template <typename Write>
std::string to_pem(Write write) {
  std::unique_ptr<BIO, bio_deleter> bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) fail("cannot write PEM");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

void add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext || X509_add_ext(cert, ext, -1) != 1) {
    X509_EXTENSION_free(ext);
    fail("cannot add a certificate extension");
  }
  X509_EXTENSION_free(ext);
}

// RFC 8737 §3: the extension's value is the DER of an OCTET STRING holding the 32-byte digest, and the
// extension is critical.
void add_acme_identifier(X509* cert, const std::array<unsigned char, 32>& digest) {
  unsigned char der[2 + 32] = {0x04, 0x20};
  std::copy(digest.begin(), digest.end(), der + 2);
  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  ASN1_OCTET_STRING* value = ASN1_OCTET_STRING_new();
  X509_EXTENSION* ext = nullptr;
  if (oid && value && ASN1_OCTET_STRING_set(value, der, sizeof der) == 1)
    ext = X509_EXTENSION_create_by_OBJ(nullptr, oid, 1, value);
  const bool ok = ext && X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  ASN1_OCTET_STRING_free(value);
  ASN1_OBJECT_free(oid);
  if (!ok) fail("cannot add the acmeIdentifier extension");
}

}  // namespace

pkey_ptr new_p256_key() {
  pkey_ptr key(EVP_EC_gen("P-256"));
  if (!key) fail("cannot make a P-256 key");
  return key;
}

std::string key_to_pem(EVP_PKEY* key) {
  return to_pem([&](BIO* bio) { return PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr); });
}

std::string certificate_to_pem(X509* cert) {
  return to_pem([&](BIO* bio) { return PEM_write_bio_X509(bio, cert); });
}

certificate make_self_signed(const std::vector<std::string>& names, std::chrono::seconds lifetime,
                             const std::array<unsigned char, 32>* acme_identifier) {
  if (names.empty()) throw std::invalid_argument("make_self_signed: no name");
  certificate c;
  c.key = new_p256_key();
  c.leaf.reset(X509_new());
  X509* cert = c.leaf.get();
  if (!cert || X509_set_version(cert, 2) != 1) fail("cannot make a certificate");
  // A random 127-bit serial: positive, and never the same twice for the same name.
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof serial_bytes) != 1) fail("no random serial");
  serial_bytes[0] &= 0x7f;
  BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr);
  const bool serial_ok = serial && BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert));
  BN_free(serial);
  if (!serial_ok) fail("cannot set the serial");
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(lifetime.count()));
  X509_NAME* subject = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(names[0].c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert, subject);
  std::string san;
  for (const auto& name : names) san += (san.empty() ? "DNS:" : ",DNS:") + name;
  add_extension(cert, NID_subject_alt_name, san.c_str());
  add_extension(cert, NID_basic_constraints, "critical,CA:FALSE");
  if (acme_identifier) add_acme_identifier(cert, *acme_identifier);
  if (X509_set_pubkey(cert, c.key.get()) != 1 || X509_sign(cert, c.key.get(), EVP_sha256()) == 0)
    fail("cannot sign the certificate");
  describe(c);
  return c;
}

}  // namespace drawbridge::tls
