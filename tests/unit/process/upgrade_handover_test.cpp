#include "process/upgrade_handover.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

using namespace drawbridge;
using namespace drawbridge::process;
using json = nlohmann::json;

namespace {

// A listening socket on 127.0.0.1:0, inheritable (as the old process hands it over).
int listening_socket() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(::listen(fd, 16), 0);
  return fd;
}

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }
bool closes_on_exec(int fd) { return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

// $DRAWBRIDGE_UPGRADE naming a memfd that holds `description` (what the successor finds at start).
void hand(const json& description) {
  const int memfd = ::memfd_create("test-handover", 0);
  const auto text = description.dump();
  ASSERT_EQ(::write(memfd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::setenv(handover_variable, std::to_string(memfd).c_str(), 1);
}

}  // namespace

TEST(upgrade_handover, a_plain_start_has_none) {
  ::unsetenv(handover_variable);
  std::string error;
  EXPECT_FALSE(take_handover(error).has_value());
  EXPECT_TRUE(error.empty());
}

TEST(upgrade_handover, the_successor_takes_every_socket_and_owns_it_close_on_exec) {
  const int a = listening_socket(), b = listening_socket(), admin = listening_socket();
  int ready[2], err[2], confirm[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(err), 0);
  ASSERT_EQ(::pipe(confirm), 0);
  hand({{"listeners", {{{"address", "127.0.0.1:0"}, {"fds", {a, b}}}}},
        {"admin", admin},
        {"admin_address", "127.0.0.1:9901"},
        {"ready", ready[1]},
        {"stderr", err[1]},
        {"confirm", confirm[0]},
        {"health", {{"app", {{"node1", {{"health", "unhealthy"}, {"address", "10.0.0.1:80"}}}}}}}});
  std::string error;
  auto h = take_handover(error);
  ASSERT_TRUE(h.has_value()) << error;
  EXPECT_EQ(std::getenv(handover_variable), nullptr);  // a later upgrade of this process starts clean
  ASSERT_EQ(h->listeners.size(), 1u);
  EXPECT_EQ(h->listeners[0].address, "127.0.0.1:0");
  ASSERT_EQ(h->listeners[0].fds.size(), 2u);
  EXPECT_EQ(h->listeners[0].fds[0].get(), a);
  EXPECT_TRUE(closes_on_exec(a) && closes_on_exec(b) && closes_on_exec(admin) && closes_on_exec(ready[1]));
  EXPECT_EQ(h->admin.get(), admin);
  EXPECT_EQ(h->admin_address, "127.0.0.1:9901");
  EXPECT_EQ(h->confirm.get(), confirm[0]);
  EXPECT_EQ(h->health["app"]["node1"]["health"], "unhealthy");
  h.reset();  // the handover owned them
  EXPECT_FALSE(is_open(a) || is_open(b) || is_open(admin) || is_open(ready[1]) || is_open(err[1]) ||
               is_open(confirm[0]));
  for (const int fd : {ready[0], err[0], confirm[1]}) ::close(fd);
}

TEST(upgrade_handover, ready_is_reported_once_on_the_pipe) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  handover h;
  h.ready = owned_fd(ready[1]);
  EXPECT_EQ(report_ready(h), "");
  char line[64] = {};
  const auto n = ::read(ready[0], line, sizeof line - 1);
  EXPECT_EQ(std::string(line, n > 0 ? static_cast<std::size_t>(n) : 0),
            "ready " + std::to_string(::getpid()) + " " + DRAWBRIDGE_VERSION + "\n");
  EXPECT_EQ(::read(ready[0], line, sizeof line), 0);  // and the pipe closed: the old process sees the end
  ::close(ready[0]);
}

TEST(upgrade_handover, a_descriptor_that_is_no_listening_socket_or_named_twice_is_refused) {
  int ready[2], err[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(err), 0);
  hand({{"listeners", {{{"address", "127.0.0.1:80"}, {"fds", {err[0]}}}}}, {"ready", ready[1]}, {"stderr", err[1]}});
  std::string error;
  EXPECT_FALSE(take_handover(error).has_value());
  EXPECT_NE(error.find("not a listening socket"), std::string::npos) << error;

  const int a = listening_socket();
  hand({{"listeners", {{{"address", "127.0.0.1:80"}, {"fds", {a, a}}}}}, {"ready", ready[1]}, {"stderr", err[1]}});
  error.clear();
  EXPECT_FALSE(take_handover(error).has_value());
  EXPECT_NE(error.find("descriptor " + std::to_string(a)), std::string::npos) << error;

  ::setenv(handover_variable, "x", 1);
  error.clear();
  EXPECT_FALSE(take_handover(error).has_value());
  EXPECT_NE(error.find("not a descriptor"), std::string::npos) << error;
  for (const int fd : {ready[0], ready[1], err[1]}) ::close(fd);
}
