#include "tls/certificate.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/test_certs.hpp"
#include "tls/server_contexts.hpp"

using namespace drawbridge;
using namespace drawbridge::tls;
using drawbridge::testing::key_kind;
using drawbridge::testing::test_ca;

TEST(certificate, rsa_and_ecdsa_chains_load_with_their_names_subject_and_expiry) {
  test_ca ca;
  for (const auto kind : {key_kind::rsa, key_kind::ecdsa}) {
    const auto files = ca.issue("site", "app.example.com", {"app.example.com", "*.Example.org"}, kind, 10);
    std::string error;
    const auto c = load_certificate(files.cert, files.key, error);
    ASSERT_TRUE(c) << error;
    EXPECT_EQ(c->names, (std::vector<std::string>{"app.example.com", "*.example.org"}));
    EXPECT_NE(c->subject.find("CN=app.example.com"), std::string::npos) << c->subject;
    const auto days_left =
        std::chrono::duration_cast<std::chrono::hours>(c->not_after - std::chrono::system_clock::now());
    EXPECT_GT(days_left.count(), 9 * 24);
    EXPECT_LE(days_left.count(), 10 * 24);
  }
}

TEST(certificate, without_subject_alt_names_the_common_name_counts) {
  test_ca ca;
  const auto files = ca.issue("old", "Legacy.Example.com", {});
  std::string error;
  const auto c = load_certificate(files.cert, files.key, error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->names, std::vector<std::string>{"legacy.example.com"});
}

TEST(certificate, a_missing_file_an_empty_file_and_a_foreign_key_are_refused_by_name) {
  test_ca ca;
  const auto a = ca.issue("a", "a.test", {"a.test"});
  const auto b = ca.issue("b", "b.test", {"b.test"});
  std::string error;
  EXPECT_FALSE(load_certificate(ca.dir() + "/missing.pem", a.key, error));
  EXPECT_EQ(error, ca.dir() + "/missing.pem: cannot read the certificate file: No such file or directory");
  const std::string empty = ca.dir() + "/empty.pem";
  std::ofstream(empty) << "not a certificate\n";
  EXPECT_FALSE(load_certificate(empty, a.key, error));
  EXPECT_EQ(error, empty + ": no PEM certificate in the file");
  EXPECT_FALSE(load_certificate(a.cert, b.key, error));
  EXPECT_EQ(error, b.key + ": the key does not match the certificate in " + a.cert);
  EXPECT_FALSE(load_certificate(a.cert, a.cert, error));  // a certificate where the key should be
  EXPECT_NE(error.find(a.cert + ": no PEM private key in the file"), std::string::npos) << error;
}

TEST(sni, a_wildcard_covers_exactly_one_leftmost_label) {
  EXPECT_TRUE(name_matches("*.example.com", "a.example.com"));
  EXPECT_FALSE(name_matches("*.example.com", "example.com"));
  EXPECT_FALSE(name_matches("*.example.com", "a.b.example.com"));
  EXPECT_FALSE(name_matches("*.example.com", ".example.com"));
  EXPECT_TRUE(name_matches("app.example.com", "app.example.com"));
  EXPECT_FALSE(name_matches("app.example.com", "www.example.com"));
  EXPECT_FALSE(name_matches("", "a"));
}

TEST(sni, the_most_specific_certificate_wins_and_no_match_means_the_first) {
  const std::vector<std::vector<std::string>> names{
      {"default.test"}, {"*.example.com"}, {"api.example.com", "other.test"}};
  EXPECT_EQ(select_certificate(names, "api.example.com"), 2u);  // exact beats the earlier wildcard
  EXPECT_EQ(select_certificate(names, "www.example.com"), 1u);
  EXPECT_EQ(select_certificate(names, "other.test"), 2u);
  EXPECT_EQ(select_certificate(names, "unknown.test"), 0u);
  EXPECT_EQ(select_certificate(names, ""), 0u);
}

TEST(server_contexts, build_reports_the_failing_file_and_expiring_certificates_are_listed) {
  test_ca ca;
  const auto good = ca.issue("good", "good.test", {"good.test"}, key_kind::ecdsa, 90);
  const auto soon = ca.issue("soon", "soon.test", {"soon.test"}, key_kind::rsa, 5);
  conf::listener_tls_config config;
  config.certificates = {{good.cert, good.key}, {soon.cert, soon.key}};
  std::string error;
  const auto set = server_contexts::build(config, error);
  ASSERT_TRUE(set) << error;
  EXPECT_EQ(set->certificates().size(), 2u);
  const auto expiring = set->expiring(std::chrono::system_clock::now(), std::chrono::hours(24 * 14));
  ASSERT_EQ(expiring.size(), 1u);
  EXPECT_NE(expiring[0].find("CN=soon.test (" + soon.cert + ") expires on "), std::string::npos) << expiring[0];

  config.certificates.push_back({good.cert, soon.key});
  EXPECT_FALSE(server_contexts::build(config, error));
  EXPECT_EQ(error, soon.key + ": the key does not match the certificate in " + good.cert);
  config.certificates.pop_back();
  config.ciphers = "NO-SUCH-CIPHER";
  EXPECT_FALSE(server_contexts::build(config, error));
  EXPECT_NE(error.find("ciphers: OpenSSL accepts none of \"NO-SUCH-CIPHER\""), std::string::npos) << error;
}
