#include "acme/sealed.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace drawbridge;

namespace {

acme::sealing_key key_of(unsigned char fill) {
  acme::sealing_key k{};
  k.fill(fill);
  return k;
}

}  // namespace

TEST(sealed, what_is_sealed_opens_only_with_its_key_and_name_and_unaltered) {
  const auto k = key_of(7);
  const std::string pem = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----BEGIN PRIVATE KEY-----\nsecret\n";
  const auto sealed = acme::seal(k, "drawbridge:c:acme:certificate:a.test", pem);
  EXPECT_EQ(sealed.rfind("drawbridge-acme-v1:", 0), 0U);
  EXPECT_EQ(sealed.find("PRIVATE"), std::string::npos);
  EXPECT_EQ(acme::unseal(k, "drawbridge:c:acme:certificate:a.test", sealed), pem);
  EXPECT_NE(acme::seal(k, "n", pem), acme::seal(k, "n", pem));  // a fresh nonce each time

  EXPECT_FALSE(acme::unseal(key_of(8), "drawbridge:c:acme:certificate:a.test", sealed).has_value());
  EXPECT_FALSE(acme::unseal(k, "drawbridge:c:acme:certificate:b.test", sealed).has_value());
  auto altered = sealed;
  altered[altered.size() / 2] = altered[altered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(acme::unseal(k, "drawbridge:c:acme:certificate:a.test", altered).has_value());
  EXPECT_FALSE(acme::unseal(k, "n", "plain text").has_value());
  EXPECT_FALSE(acme::unseal(k, "n", "drawbridge-acme-v1:AAAA").has_value());
}

TEST(sealed, the_key_file_holds_64_hex_digits) {
  const auto path = std::filesystem::temp_directory_path() / ("drawbridge-sealing-" + std::to_string(::getpid()));
  std::string error;
  std::ofstream(path) << "  00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\n";
  const auto key = acme::read_sealing_key(path.string(), error);
  ASSERT_TRUE(key.has_value()) << error;
  EXPECT_EQ((*key)[0], 0x00);
  EXPECT_EQ((*key)[10], 0xaa);
  EXPECT_EQ((*key)[31], 0xff);
  std::ofstream(path) << "too short";
  EXPECT_FALSE(acme::read_sealing_key(path.string(), error).has_value());
  EXPECT_NE(error.find("expected 64 hex digits"), std::string::npos) << error;
  std::filesystem::remove(path);
  EXPECT_FALSE(acme::read_sealing_key(path.string(), error).has_value());
  EXPECT_NE(error.find("cannot read"), std::string::npos) << error;
}
