#include "acme/storage.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "acme/jws.hpp"
#include "tls/acme_files.hpp"

using namespace drawbridge;

namespace {

struct temp_storage {
  temp_storage()
      : dir(std::filesystem::temp_directory_path() / ("drawbridge-acme-store-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir);
    acme.domains = {"appsmith.test"};
    acme.storage = (dir / "acme").string();  // not there yet: made 0700
  }
  ~temp_storage() { std::filesystem::remove_all(dir); }
  std::filesystem::path dir;
  conf::acme_config acme;
};

unsigned mode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 0777 : 0;
}

}  // namespace

TEST(acme_storage, the_account_key_is_made_once_owner_only_and_then_reused) {
  temp_storage t;
  std::string error;
  auto first = acme::load_or_create_account_key(t.acme, error);
  ASSERT_TRUE(first) << error;
  EXPECT_EQ(mode_of(t.acme.storage), 0700U);
  EXPECT_EQ(mode_of(tls::acme_account_key_path(t.acme)), 0600U);
  auto again = acme::load_or_create_account_key(t.acme, error);
  ASSERT_TRUE(again) << error;
  EXPECT_EQ(acme::jwk_thumbprint(first.get()), acme::jwk_thumbprint(again.get()));

  std::ofstream(tls::acme_account_key_path(t.acme)) << "not a key";
  EXPECT_FALSE(acme::load_or_create_account_key(t.acme, error));
  EXPECT_NE(error.find("account.key: not a PEM EC private key"), std::string::npos) << error;
}

TEST(acme_storage, a_certificate_is_replaced_whole_and_owner_only) {
  temp_storage t;
  ASSERT_FALSE(acme::store_certificate(t.acme, "CHAIN-1", "KEY-1\n"));
  const auto path = tls::acme_certificate_path(t.acme);
  EXPECT_EQ(mode_of(path), 0600U);
  ASSERT_FALSE(acme::store_certificate(t.acme, "CHAIN-2\n", "KEY-2\n"));
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  EXPECT_EQ(text.str(), "CHAIN-2\nKEY-2\n");
  // No temporary file left behind.
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(t.acme.storage)) files += entry.is_regular_file();
  EXPECT_EQ(files, 1U);
}

// The file cannot be replaced (a directory with something in it stands there: a failure even for root).
TEST(acme_storage, a_write_that_cannot_happen_says_why_and_leaves_no_temporary_file) {
  temp_storage t;
  const auto path = tls::acme_certificate_path(t.acme);
  std::filesystem::create_directories(path + "/occupied");
  const auto problem = acme::store_certificate(t.acme, "CHAIN-2\n", "KEY-2\n");
  ASSERT_TRUE(problem.has_value());
  EXPECT_NE(problem->find("cannot replace"), std::string::npos) << *problem;
  EXPECT_TRUE(std::filesystem::is_directory(path + "/occupied"));
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(t.acme.storage)) files += entry.is_regular_file();
  EXPECT_EQ(files, 0U);
}
