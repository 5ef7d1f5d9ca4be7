// The files for running drawbridge on a host (deploy/): systemd accepts the unit as written, with the
// binary under test in place of the installed one.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/support/proxy_harness.hpp"
#include "tests/support/scratch_dir.hpp"

using namespace drawbridge::testing;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST(deploy, the_systemd_unit_passes_systemd_analyze_verify) {
  if (run_shell("command -v systemd-analyze").exit_code != 0) GTEST_SKIP() << "systemd-analyze is not installed";
  auto unit = read_all(DRAWBRIDGE_SOURCE_DIR "/deploy/systemd/drawbridge.service");
  ASSERT_FALSE(unit.empty());
  for (const char* line : {"Type=notify", "ExecReload=", "KillSignal=SIGTERM",
                           "TimeoutStopSec=", "AmbientCapabilities=CAP_NET_BIND_SERVICE", "ProtectSystem=strict",
                           "StateDirectory=drawbridge", "LimitNOFILE=", "User=drawbridge"})
    EXPECT_NE(unit.find(line), std::string::npos) << line;
  // verify checks that every command exists: the binary under test stands in for the installed one.
  const std::string installed = "/usr/local/bin/drawbridge";
  for (auto at = unit.find(installed); at != std::string::npos; at = unit.find(installed, at))
    unit.replace(at, installed.size(), DRAWBRIDGE_BINARY);
  scratch_dir dir;
  std::ofstream(dir.file("drawbridge.service")) << unit;
  const auto result = run_shell("systemd-analyze verify " + dir.file("drawbridge.service"));
  EXPECT_EQ(result.exit_code, 0) << result.out;
  EXPECT_EQ(result.out.find("drawbridge.service"), std::string::npos) << result.out;  // no complaint about it
}
