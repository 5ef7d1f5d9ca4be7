#include "proxy/access_log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

using namespace drawbridge::proxy;

TEST(access_log, escapes_what_json_cannot_hold) {
  std::string out;
  append_json_escaped(out, "a\"b\\c\n\x01\xff");
  EXPECT_EQ(out, "a\\\"b\\\\c\\n\\u0001\\u00ff");
}

TEST(access_log, writes_one_parseable_json_line_per_request) {
  const auto dir = std::filesystem::temp_directory_path() / ("drawbridge-log-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "access.log").string();
  {
    drawbridge::conf::access_log_config config;
    config.path = path;
    access_log log(config);
    access_record r;
    r.time = std::chrono::system_clock::now();
    r.request_id = "6f9619ff-8b86-4d11-b42d-00c04fc964ff";
    r.client = "127.0.0.1";
    r.method = "GET";
    r.path = "/api/v1/users?name=\"x\"";
    r.status = 200;
    r.bytes_in = 0;
    r.bytes_out = 1234;
    r.upstream = "appsmith";
    r.node = "node1";
    r.duration_ms = 1.5;
    r.upstream_ms = 1.25;
    log.write(r);
    r.status = 404;
    r.upstream_ms = -1;
    log.write(r);
  }
  std::ifstream in(path);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["request_id"], "6f9619ff-8b86-4d11-b42d-00c04fc964ff");
  EXPECT_EQ(j["path"], "/api/v1/users?name=\"x\"");
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["bytes_out"], 1234);
  EXPECT_EQ(j["node"], "node1");
  EXPECT_DOUBLE_EQ(j["upstream_ms"].get<double>(), 1.25);
  for (const char* key : {"time", "client", "method", "bytes_in", "upstream", "duration_ms"})
    EXPECT_TRUE(j.contains(key)) << key;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_TRUE(nlohmann::json::parse(line)["upstream_ms"].is_null());
  std::filesystem::remove_all(dir);
}

TEST(access_log, without_query_the_path_is_logged_up_to_its_query_string) {
  const auto dir = std::filesystem::temp_directory_path() / ("drawbridge-log-q-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "access.log").string();
  {
    drawbridge::conf::access_log_config config;
    config.path = path;
    config.query = false;
    access_log log(config);
    access_record r;
    r.time = std::chrono::system_clock::now();
    r.path = "/api/v1/users/invite?token=s3cret&email=a%40b";
    log.write(r);
    r.path = "/plain";
    log.write(r);
  }
  std::ifstream in(path);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(nlohmann::json::parse(line)["path"], "/api/v1/users/invite");
  EXPECT_EQ(line.find("s3cret"), std::string::npos) << line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(nlohmann::json::parse(line)["path"], "/plain");
  std::filesystem::remove_all(dir);
  EXPECT_EQ(loggable_path("/a?b", true), "/a?b");
  EXPECT_EQ(loggable_path("/a?b", false), "/a");
}
