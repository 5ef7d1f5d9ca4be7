// The service manager's notify protocol and the pid file (process/), against a Unix socket and a file the
// test makes itself.

#include "process/service_notify.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "process/pid_file.hpp"
#include "tests/support/notify_socket.hpp"
#include "tests/support/scratch_dir.hpp"

using namespace drawbridge;
using drawbridge::testing::notify_socket;

TEST(service_notify, sends_the_state_to_the_socket_the_service_manager_named) {
  drawbridge::testing::scratch_dir dir;
  const auto path = dir.path() + "/notify";
  notify_socket manager(path);
  ASSERT_TRUE(manager.bound());
  EXPECT_EQ(process::notify_service_manager("READY=1\nSTATUS=serving"), "");
  EXPECT_EQ(manager.receive(), "READY=1\nSTATUS=serving");
  const auto reloading = "RELOADING=1\n" + process::monotonic_usec_line();
  EXPECT_EQ(process::notify_service_manager(reloading), "");
  EXPECT_EQ(manager.receive(), reloading);
}

TEST(service_notify, without_a_service_manager_nothing_is_sent_and_a_bad_socket_is_named) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_EQ(process::notify_service_manager("READY=1"), "");
  ::setenv("NOTIFY_SOCKET", "relative/path", 1);
  EXPECT_NE(process::notify_service_manager("READY=1").find("NOTIFY_SOCKET is not a socket path"), std::string::npos);
  ::unsetenv("NOTIFY_SOCKET");
}

TEST(pid_file, holds_the_pid_while_it_lives_and_leaves_another_process_s_alone) {
  drawbridge::testing::scratch_dir dir;
  const auto path = dir.path() + "/drawbridge.pid";
  auto read = [&] {
    std::ifstream in(path);
    long pid = 0;
    return in >> pid ? pid : -1L;
  };
  {
    process::pid_file file;
    EXPECT_EQ(file.write(path), "");
    EXPECT_EQ(read(), static_cast<long>(::getpid()));
  }
  EXPECT_EQ(read(), -1L);  // removed at the end
  {
    process::pid_file file;
    EXPECT_EQ(file.write(path), "");
    std::ofstream(path) << "1\n";  // a newer process took the file over
  }
  EXPECT_EQ(read(), 1L);
  process::pid_file nowhere;
  EXPECT_NE(nowhere.write(dir.path() + "/missing/drawbridge.pid").find("--pid-file: cannot write"), std::string::npos);
}
