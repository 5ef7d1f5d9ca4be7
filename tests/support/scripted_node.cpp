#include "tests/support/scripted_node.hpp"

#include <sys/socket.h>

#include <algorithm>

namespace drawbridge::testing {

scripted_node::scripted_node(std::vector<scripted_answer> answers)
    : answers_(std::move(answers)), server_([this](boost::asio::ip::tcp::socket& socket) { serve(socket); }) {}

std::vector<std::string> scripted_node::requests() const {
  const std::lock_guard lock(mutex_);
  return requests_;
}

void scripted_node::serve(boost::asio::ip::tcp::socket& socket) {
  const int fd = socket.native_handle();
  std::string received;
  char chunk[4096];
  for (;;) {
    const auto end = received.find("\r\n\r\n");
    if (end != std::string::npos) {
      {
        const std::lock_guard lock(mutex_);
        requests_.push_back(received.substr(0, end + 4));
      }
      received.erase(0, end + 4);
      const auto i = next_answer_++;
      const auto& answer = answers_[std::min(i, answers_.size() - 1)];
      if (::send(fd, answer.bytes.data(), answer.bytes.size(), MSG_NOSIGNAL) < 0 || answer.close) break;
      continue;
    }
    const auto n = ::recv(fd, chunk, sizeof chunk, 0);  // woken by the peer, or by the server's stop()
    if (n <= 0) break;
    received.append(chunk, static_cast<std::size_t>(n));
  }
  ::shutdown(fd, SHUT_RDWR);  // the close, for an answer that says so, without waiting for the others
}

}  // namespace drawbridge::testing
