#include "tests/support/scripted_node.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace drawbridge::testing {

scripted_node::scripted_node(std::vector<scripted_answer> answers) : answers_(std::move(answers)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, 64) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    throw std::runtime_error("scripted_node: cannot listen on 127.0.0.1");
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] {
    for (;;) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) < 0 || stopping_) return;
      if (!(p.revents & POLLIN)) continue;
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++connections_;
      const std::lock_guard lock(mutex_);
      open_fds_.push_back(fd);
      servers_.emplace_back([this, fd] { serve(fd); });
    }
  });
}

scripted_node::~scripted_node() {
  stopping_ = true;
  acceptor_.join();
  {
    const std::lock_guard lock(mutex_);
    for (const int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);  // wakes the servers' polls
  }
  for (auto& t : servers_) t.join();
  for (const int fd : open_fds_) ::close(fd);
  ::close(listen_fd_);
}

std::vector<std::string> scripted_node::requests() const {
  const std::lock_guard lock(mutex_);
  return requests_;
}

void scripted_node::serve(int fd) {
  std::string received;
  char chunk[4096];
  while (!stopping_) {
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
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    const auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) break;
    received.append(chunk, static_cast<std::size_t>(n));
  }
  // Closed here only once the destructor no longer needs the descriptor: it stays listed until then.
  ::shutdown(fd, SHUT_RDWR);
}

}  // namespace drawbridge::testing
