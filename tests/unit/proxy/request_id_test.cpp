#include "proxy/request_id.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace drawbridge::proxy;

TEST(request_id, valid_uuids_are_recognised_in_either_case) {
  EXPECT_TRUE(is_valid_uuid("6f9619ff-8b86-4d11-b42d-00c04fc964ff"));
  EXPECT_TRUE(is_valid_uuid("6F9619FF-8B86-4D11-B42D-00C04FC964FF"));
}

TEST(request_id, anything_else_is_not_a_uuid) {
  for (const char* bad : {"", "abc", "6f9619ff8b864d11b42d00c04fc964ff", "6f9619ff-8b86-4d11-b42d-00c04fc964f",
                          "6f9619ff-8b86-4d11-b42d-00c04fc964fff", "6f9619ff-8b86-4d11-b42d_00c04fc964ff",
                          "6f9619fg-8b86-4d11-b42d-00c04fc964ff", "6f9619ff-8b86-4d11-b42d-00c04fc964f\n"})
    EXPECT_FALSE(is_valid_uuid(bad)) << bad;
}

TEST(request_id, generated_ids_are_version_4_uuids) {
  request_id_generator gen(1);
  for (int i = 0; i < 1000; ++i) {
    const auto id = gen.next();
    ASSERT_TRUE(is_valid_uuid(id)) << id;
    EXPECT_EQ(id[14], '4') << id;
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b') << id;
  }
}

TEST(request_id, generated_ids_do_not_repeat) {
  request_id_generator a(random_seed());
  request_id_generator b(random_seed());
  std::set<std::string> seen;
  for (int i = 0; i < 50000; ++i) {
    seen.insert(a.next());
    seen.insert(b.next());
  }
  EXPECT_EQ(seen.size(), 100000u);
}
