// An HTTP/2 client connection's bytes as h2_session takes them (proxy/h2_session.hpp): nghttp2's framing
// and HPACK under drawbridge's callbacks, flood limits and streams. Each complete request is answered at
// once through its stream's sink (a head and a body, or a header-only answer), and its body is taken as it
// comes, as an exchange would.
//
// Input: byte 0 cuts the rest into reads (fuzz_support.hpp splitter); byte 1's bits pick how requests are
// answered (1: header-only, 2: reset); the rest is what the client sends after
// the connection preface (which the harness adds, so that inputs start at the frames).
// Checks:
//  - a request kept under the header-list limit makes an HTTP/1.1 head whose request line has the
//    method, one space, a target without spaces, and " HTTP/1.1";
//  - a stream never holds more request body than the window allows (http2.initial_window_size);
//  - the frames the session writes are whole frames (9-byte header and its length), none longer than the
//    client's default SETTINGS_MAX_FRAME_SIZE.

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "proxy/h2_session.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace drawbridge;
using namespace drawbridge::proxy;

namespace {

constexpr std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

void check_frames(std::string_view out) {
  while (!out.empty()) {
    FUZZ_CHECK(out.size() >= 9);
    const std::size_t length = static_cast<std::size_t>(static_cast<unsigned char>(out[0])) << 16 |
                               static_cast<std::size_t>(static_cast<unsigned char>(out[1])) << 8 |
                               static_cast<unsigned char>(out[2]);
    FUZZ_CHECK(length <= 16384);
    FUZZ_CHECK(out.size() >= 9 + length);
    out.remove_prefix(9 + length);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  fuzz::splitter split(data[0]);
  const std::uint8_t mode = data[1];
  std::string input(preface);
  input.append(reinterpret_cast<const char*>(data + 2), size - 2);

  boost::asio::io_context io;
  conf::http2_config config;
  config.initial_window_size = 65535;  // small, so that the window check bites
  std::vector<std::shared_ptr<h2_stream>> requests;
  h2_session session(
      config, false, io.get_executor(),
      {.on_request = [&](std::shared_ptr<h2_stream> s) { requests.push_back(std::move(s)); }, .on_output = [] {}});
  std::string out;
  char body[4096];
  std::size_t at = 0;
  bool open = true;
  while (open && at < input.size()) {
    const std::size_t n = split.next(input.size() - at);
    open = session.receive(reinterpret_cast<const std::uint8_t*>(input.data() + at), n);
    at += n;
    for (auto& s : requests) {
      if (s->exchange_done()) continue;
      if (!s->header_too_large()) {
        const auto head = s->http1_head();
        if (!head.empty()) {
          const auto line = std::string_view(head).substr(0, head.find("\r\n"));
          const auto space = line.find(' ');
          FUZZ_CHECK(space != std::string_view::npos && space > 0);
          FUZZ_CHECK(line.size() > space + 1 + 9 && line.substr(line.size() - 9) == " HTTP/1.1");
        }
      }
      FUZZ_CHECK(s->body_buffered() <= config.initial_window_size);
      while (s->take_body(body, sizeof body) != 0) {
      }
      session.exchange_started();
      boost::beast::http::response_header<> head;
      head.result(200);
      head.set(boost::beast::http::field::content_type, "text/plain");
      head.set(boost::beast::http::field::connection, "close");  // dropped on HTTP/2
      boost::system::error_code ec;
      if (mode & 2) {
        s->abort();
      } else {
        s->write_head(head, body_framing::none);
        const std::string answer = "hello";
        const boost::asio::const_buffer piece(answer.data(), (mode & 1) ? 0 : answer.size());
        s->finish({&piece, 1}, ec);
      }
      session.exchange_ended(*s);
    }
    out.clear();
    session.collect(out, 1 << 20);
    check_frames(out);
  }
  io.poll();  // the streams' wakes (cancelled timers) complete
  session.close_all();
  return 0;
}
