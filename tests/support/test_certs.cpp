#include "tests/support/test_certs.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

namespace drawbridge::testing {

namespace {

EVP_PKEY* new_key(key_kind kind) {
  EVP_PKEY* key = kind == key_kind::rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
  if (!key) throw std::runtime_error("test_certs: key generation failed");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) throw std::runtime_error("test_certs: bad extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509* new_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, long serial, int days) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(days) * 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("drawbridge tests"), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
  return cert;
}

void write_pem(const std::string& path, X509* cert, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("test_certs: cannot write " + path);
  if (cert) PEM_write_X509(f, cert);
  if (key) PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

}  // namespace

struct test_ca::impl {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  mutable long serial = 2;
};

test_ca::test_ca() : impl_(new impl) {
  char pattern[] = "/tmp/drawbridge-certs-XXXXXX";
  const char* made = ::mkdtemp(pattern);
  if (!made) throw std::runtime_error("test_certs: mkdtemp failed");
  dir_ = made;
  impl_->key = new_key(key_kind::ecdsa);
  impl_->cert = new_cert(impl_->key, "drawbridge test CA", nullptr, 1, 365);
  add_extension(impl_->cert, impl_->cert, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(impl_->cert, impl_->cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  X509_sign(impl_->cert, impl_->key, EVP_sha256());
  ca_file_ = dir_ + "/ca.pem";
  write_pem(ca_file_, impl_->cert, nullptr);
}

test_ca::~test_ca() {
  X509_free(impl_->cert);
  EVP_PKEY_free(impl_->key);
  delete impl_;
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

pem_files test_ca::issue(const std::string& file_stem, const std::string& common_name,
                         const std::vector<std::string>& dns, key_kind kind, int days) const {
  EVP_PKEY* key = new_key(kind);
  X509* cert = new_cert(key, common_name, impl_->cert, impl_->serial++, days);
  if (!dns.empty()) {
    std::string sans;
    for (const auto& name : dns) {
      if (!sans.empty()) sans += ",";
      sans += name.rfind("IP:", 0) == 0 ? name : "DNS:" + name;  // "IP:127.0.0.1" for an address
    }
    add_extension(cert, impl_->cert, NID_subject_alt_name, sans);
  }
  add_extension(cert, impl_->cert, NID_basic_constraints, "CA:FALSE");
  add_extension(cert, impl_->cert, NID_ext_key_usage, "serverAuth,clientAuth");
  X509_sign(cert, impl_->key, EVP_sha256());
  pem_files files{dir_ + "/" + file_stem + ".pem", dir_ + "/" + file_stem + ".key"};
  write_pem(files.cert, cert, nullptr);
  write_pem(files.key, nullptr, key);
  X509_free(cert);
  EVP_PKEY_free(key);
  return files;
}

}  // namespace drawbridge::testing
