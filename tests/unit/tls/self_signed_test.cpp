#include "tls/self_signed.hpp"

#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>

#include "tls/acme_challenges.hpp"
#include "tls/acme_files.hpp"
#include "tls/server_contexts.hpp"

using namespace drawbridge;

TEST(self_signed, a_placeholder_names_every_domain_and_is_its_own_issuer) {
  const auto c = tls::make_self_signed({"appsmith.test", "www.appsmith.test"}, std::chrono::hours(24));
  EXPECT_EQ(c.names, (std::vector<std::string>{"appsmith.test", "www.appsmith.test"}));
  EXPECT_EQ(c.subject, "/CN=appsmith.test");
  EXPECT_EQ(c.issuer, c.subject);
  EXPECT_EQ(X509_check_private_key(c.leaf.get(), c.key.get()), 1);
  EXPECT_EQ(X509_verify(c.leaf.get(), c.key.get()), 1);
  const auto left = c.not_after - std::chrono::system_clock::now();
  EXPECT_GT(left, std::chrono::hours(23));
  EXPECT_LE(left, std::chrono::hours(24));
}

// RFC 8737 §3: a critical id-pe-acmeIdentifier extension whose value is the DER OCTET STRING of the
// key authorization's SHA-256.
TEST(self_signed, a_tls_alpn01_certificate_carries_the_digest_in_a_critical_acme_identifier) {
  std::array<unsigned char, 32> digest{};
  for (std::size_t i = 0; i < digest.size(); ++i) digest[i] = static_cast<unsigned char>(i * 7);
  const auto c = tls::make_self_signed({"alpn.test"}, std::chrono::hours(1), &digest);
  ASSERT_TRUE(c.leaf);
  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  const int at = X509_get_ext_by_OBJ(c.leaf.get(), oid, -1);
  ASN1_OBJECT_free(oid);
  ASSERT_GE(at, 0);
  X509_EXTENSION* ext = X509_get_ext(c.leaf.get(), at);
  EXPECT_EQ(X509_EXTENSION_get_critical(ext), 1);
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(ext);
  ASSERT_EQ(ASN1_STRING_length(value), 34);
  const unsigned char* bytes = ASN1_STRING_get0_data(value);
  EXPECT_EQ(bytes[0], 0x04);
  EXPECT_EQ(bytes[1], 0x20);
  EXPECT_TRUE(std::equal(digest.begin(), digest.end(), bytes + 2));
  // Without the digest there is no such extension.
  const auto plain = tls::make_self_signed({"alpn.test"}, std::chrono::hours(1));
  ASN1_OBJECT* again = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  EXPECT_LT(X509_get_ext_by_OBJ(plain.leaf.get(), again, -1), 0);
  ASN1_OBJECT_free(again);
}

TEST(acme_challenges, answers_are_published_found_and_withdrawn) {
  auto& table = tls::acme_challenges::instance();
  EXPECT_FALSE(table.http_answer("tok-1").has_value());
  table.add_http("tok-1", "tok-1.thumb");
  EXPECT_EQ(table.http_answer("tok-1"), "tok-1.thumb");
  EXPECT_FALSE(table.http_answer("tok-2").has_value());
  table.remove_http("tok-1");
  EXPECT_FALSE(table.http_answer("tok-1").has_value());

  EXPECT_FALSE(table.any_tls_alpn());
  table.add_tls_alpn(
      "a.test", std::make_shared<const tls::certificate>(tls::make_self_signed({"a.test"}, std::chrono::hours(1))));
  EXPECT_TRUE(table.any_tls_alpn());
  ASSERT_NE(table.tls_alpn_certificate("a.test"), nullptr);
  EXPECT_EQ(table.tls_alpn_certificate("b.test"), nullptr);
  table.remove_tls_alpn("a.test");
  EXPECT_FALSE(table.any_tls_alpn());
  EXPECT_EQ(table.tls_alpn_certificate("a.test"), nullptr);
}

// An ACME listener with nothing stored serves a placeholder; with a stored certificate, that one; with
// files configured too, the files first (they win for their names, and the first is the default).
TEST(server_contexts, an_acme_listener_serves_what_is_stored_or_a_placeholder) {
  const auto dir = std::filesystem::temp_directory_path() / ("drawbridge-acme-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  conf::listener_tls_config config;
  conf::acme_config acme;
  acme.directory = "https://ca.test/dir";
  acme.domains = {"appsmith.test"};
  acme.storage = dir.string();
  config.acme = acme;
  std::string error;
  auto set = tls::server_contexts::build(config, error);
  ASSERT_TRUE(set) << error;
  EXPECT_TRUE(set->placeholder());
  ASSERT_EQ(set->certificates().size(), 1U);
  EXPECT_EQ(set->certificates()[0].source, "placeholder");
  EXPECT_EQ(set->certificates()[0].names, (std::vector<std::string>{"appsmith.test"}));
  EXPECT_TRUE(set->expiring(std::chrono::system_clock::now(), std::chrono::hours(24 * 365)).empty());

  // A certificate as the ACME manager stores it: the chain, then the key, in one file.
  const auto issued = tls::make_self_signed({"appsmith.test"}, std::chrono::hours(48));
  std::ofstream(tls::acme_certificate_path(*config.acme))
      << tls::certificate_to_pem(issued.leaf.get()) << tls::key_to_pem(issued.key.get());
  set = tls::server_contexts::build(config, error);
  ASSERT_TRUE(set) << error;
  EXPECT_FALSE(set->placeholder());
  EXPECT_EQ(set->certificates()[0].source, "acme");
  EXPECT_EQ(set->certificates()[0].cert_path, tls::acme_certificate_path(*config.acme));

  // With files too: the files first (the default), and they win for the names they cover, a wildcard's
  // included; the ACME certificate keeps the names no file covers.
  const auto file_cert = tls::make_self_signed({"*.appsmith.test", "other.test"}, std::chrono::hours(48));
  std::ofstream(dir / "file.crt") << tls::certificate_to_pem(file_cert.leaf.get());
  std::ofstream(dir / "file.key") << tls::key_to_pem(file_cert.key.get());
  auto both = config;
  both.certificates.push_back({(dir / "file.crt").string(), (dir / "file.key").string()});
  both.acme->domains = {"appsmith.test", "www.appsmith.test"};
  const auto issued_both = tls::make_self_signed({"appsmith.test", "www.appsmith.test"}, std::chrono::hours(48));
  std::ofstream(tls::acme_certificate_path(*both.acme))
      << tls::certificate_to_pem(issued_both.leaf.get()) << tls::key_to_pem(issued_both.key.get());
  set = tls::server_contexts::build(both, error);
  ASSERT_TRUE(set) << error;
  ASSERT_EQ(set->certificates().size(), 2U);
  EXPECT_EQ(set->certificates()[0].source, "file");
  EXPECT_EQ(set->certificates()[1].source, "acme");
  EXPECT_EQ(set->sni_names(1), (std::vector<std::string>{"appsmith.test"}));  // www. is the wildcard file's

  // A stored file that is not a certificate: the placeholder again (never a listener that cannot start).
  std::ofstream(tls::acme_certificate_path(*config.acme)) << "junk";
  set = tls::server_contexts::build(config, error);
  ASSERT_TRUE(set) << error;
  EXPECT_TRUE(set->placeholder());
  std::filesystem::remove_all(dir);
}
