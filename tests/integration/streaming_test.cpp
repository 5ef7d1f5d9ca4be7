// Bodies are streamed both ways, byte-exact, in bounded memory.

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/fake_node.hpp"
#include "tests/support/proxy_harness.hpp"
#include "tests/support/test_client.hpp"

using namespace drawbridge::testing;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;

namespace {

std::string hex(const unsigned char* d, unsigned n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += digits[d[i] >> 4];
    out += digits[d[i] & 0xF];
  }
  return out;
}

struct upload_result {
  unsigned status = 0;
  std::string body;
  std::string sent_sha256;
  std::string error;
};

// Streams `size` bytes of a seeded pseudo-random pattern as a Content-Length (or chunked) upload,
// hashing what it sends, and reads the answer. Nothing is held in memory but one block.
upload_result upload(std::uint16_t port, std::uint64_t size, unsigned seed, bool chunked = false) {
  upload_result r;
  net::io_context ioc;
  tcp::socket socket(ioc);
  boost::system::error_code ec;
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) {
    r.error = ec.message();
    return r;
  }
  std::string head = "POST /upload HTTP/1.1\r\nHost: a\r\nConnection: close\r\n";
  head += chunked ? "Transfer-Encoding: chunked\r\n\r\n" : "Content-Length: " + std::to_string(size) + "\r\n\r\n";
  net::write(socket, net::buffer(head), ec);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<unsigned char> block(256 * 1024);
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (std::uint64_t sent = 0; sent < size && !ec;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), size - sent));
    for (std::size_t i = 0; i < n; i += 8) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      std::memcpy(block.data() + i, &state, std::min<std::size_t>(8, n - i));
    }
    EVP_DigestUpdate(ctx, block.data(), n);
    if (chunked) {
      char size_line[32];
      const int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
      net::write(socket, net::buffer(size_line, static_cast<std::size_t>(len)), ec);
    }
    net::write(socket, net::buffer(block.data(), n), ec);
    if (chunked) net::write(socket, net::buffer("\r\n", 2), ec);
    sent += n;
  }
  if (chunked && !ec) net::write(socket, net::buffer(std::string("0\r\n\r\n")), ec);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  r.sent_sha256 = hex(digest, len);
  if (ec) {
    r.error = "write: " + ec.message();
    return r;
  }
  std::string response;
  char buf[4096];
  for (;;) {
    const auto n = socket.read_some(net::buffer(buf), ec);
    response.append(buf, n);
    if (ec) break;
  }
  r.status = first_status(response);
  const auto body_at = response.find("\r\n\r\n");
  if (body_at != std::string::npos) r.body = response.substr(body_at + 4);
  return r;
}

}  // namespace

TEST(streaming, upload_of_100_mb_is_relayed_byte_exact) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  const auto r = upload(proxy.port(), 100ull << 20, 1);
  ASSERT_EQ(r.status, 200u) << r.error << r.body;
  const auto answer = json::parse(r.body);
  EXPECT_EQ(answer["bytes"], 100ull << 20);
  EXPECT_EQ(answer["sha256"], r.sent_sha256);
}

TEST(streaming, chunked_upload_is_relayed_byte_exact) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  const auto r = upload(proxy.port(), 3 * 1024 * 1024 + 17, 2, /*chunked=*/true);
  ASSERT_EQ(r.status, 200u) << r.error << r.body;
  const auto answer = json::parse(r.body);
  EXPECT_EQ(answer["bytes"], 3 * 1024 * 1024 + 17);
  EXPECT_EQ(answer["sha256"], r.sent_sha256);
}

TEST(streaming, large_download_with_content_length_arrives_whole) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client client(proxy.port());
  const auto res = client.get("/file?bytes=20000000");
  ASSERT_EQ(res.status, 200u) << res.error;
  EXPECT_EQ(res.headers[boost::beast::http::field::content_length], "20000000");
  EXPECT_EQ(res.body.size(), 20000000u);
  EXPECT_EQ(res.body.find_first_not_of('x'), std::string::npos);
}

TEST(streaming, chunked_response_stays_chunked_for_http_1_1_clients) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  test_client client(proxy.port());
  const auto res = client.get("/file?bytes=300000&chunked=1");
  ASSERT_EQ(res.status, 200u) << res.error;
  EXPECT_EQ(res.headers[boost::beast::http::field::transfer_encoding], "chunked");
  EXPECT_EQ(res.body.size(), 300000u);
  EXPECT_EQ(client.get("/x").status, 200u);  // keep-alive survives a chunked response
}

TEST(streaming, chunked_response_is_close_delimited_for_http_1_0_clients) {
  fake_node node({"node1"});
  proxy_under_test proxy({node.port()});
  const auto raw = raw_exchange(proxy.port(), "GET /file?bytes=100000&chunked=1 HTTP/1.0\r\n\r\n");
  const auto body_at = raw.received.find("\r\n\r\n");
  ASSERT_NE(body_at, std::string::npos);
  const auto head = raw.received.substr(0, body_at);
  EXPECT_EQ(head.find("chunked"), std::string::npos) << head;
  EXPECT_EQ(raw.received.size() - body_at - 4, 100000u);
  EXPECT_FALSE(raw.timed_out);
}

#ifndef DRAWBRIDGE_SANITIZE
// Four concurrent 100 MB uploads through the real binary: the proxy's peak resident memory may not
// grow by more than 1 MiB per upload. (Sanitizer builds have their own allocator: not measured there.)
TEST(streaming, four_concurrent_100_mb_uploads_grow_proxy_memory_by_at_most_1_mib_each) {
  fake_node node({"node1"});
  spawned_proxy proxy(single_node_config_json(node.port()));
  ASSERT_TRUE(proxy.started()) << proxy.output();
  // Warm up: a first request and upload allocate what every later one reuses.
  ASSERT_EQ(upload(proxy.port(), 1 << 20, 9).status, 200u);
  const long baseline = memory_kib(proxy.pid(), "VmRSS");
  std::ofstream("/proc/" + std::to_string(proxy.pid()) + "/clear_refs") << "5";  // reset VmHWM
  std::vector<upload_result> results(4);
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < 4; ++i)
    threads.emplace_back([&, i] { results[i] = upload(proxy.port(), 100ull << 20, 10 + i); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_EQ(r.status, 200u) << r.error;
    EXPECT_EQ(json::parse(r.body)["sha256"], r.sent_sha256);
  }
  const long peak = memory_kib(proxy.pid(), "VmHWM");
  ASSERT_GT(baseline, 0);
  const long growth = peak - baseline;
  std::cout << "proxy memory: baseline " << baseline << " KiB, peak during 4 x 100 MB uploads " << peak
            << " KiB, growth " << growth << " KiB\n";
  EXPECT_LE(growth, 4 * 1024);
}
#endif
