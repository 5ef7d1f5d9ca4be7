#pragma once
// The binary upgrade, its plain-POSIX half: what the running drawbridge hands the binary now on disk, and
// starting it (admin/control_plane_upgrade.cpp drives the whole).
//
// The successor inherits the listening sockets as descriptors: the very sockets, accept queues included,
// so that no moment passes with nobody accepting and no connection waiting in a queue is reset. Which
// descriptor is what travels in a memfd (JSON) whose number is in $DRAWBRIDGE_UPGRADE. Until it reports
// ready, the successor's stderr is a pipe to the old process, which keeps what it says for the answer to
// an upgrade that failed; once ready it takes the old process's stderr (the journal) as its own.

#include <sys/types.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "net/owned_fd.hpp"

namespace drawbridge::process {

inline constexpr const char* handover_variable = "DRAWBRIDGE_UPGRADE";
// How long a new binary has to report ready before the upgrade is given up (and it is killed).
inline constexpr std::chrono::seconds upgrade_ready_timeout{60};

// Every socket of one listener: one per worker of the old process (SO_REUSEPORT).
struct inherited_listener {
  std::string address;  // as configured ("127.0.0.1:0"): how the successor finds the listener it belongs to
  std::vector<owned_fd> fds;
};

struct handover {
  std::vector<inherited_listener> listeners;
  owned_fd admin;             // the admin API's listening socket; none without an admin listener
  std::string admin_address;  // as configured: a successor whose config moved the admin API binds afresh
  // Health verdicts: {"upstream": {"node": {"health": "healthy" | "unhealthy" | "unknown", "address": ...}}},
  // so that the successor sends nothing to a node the old process knows is down before its own first probe.
  nlohmann::json health = nlohmann::json::object();
  // Successor side only: where it reports ready, the stderr it takes then, and where the old process
  // confirms the handover ("go", or the end of file should the old process be gone): until then the
  // successor takes no change, since the old process may still give the upgrade up and serve on.
  owned_fd ready;
  owned_fd stderr_of_old;
  owned_fd confirm;
};

// --- the successor ---
// nullopt without $DRAWBRIDGE_UPGRADE (a plain start). Otherwise reads the handover, closes the memfd and
// unsets the variable (a later upgrade starts clean); every descriptor it names is made close-on-exec.
// `error` says what was wrong with it (then nothing is returned and no descriptor is left open).
std::optional<handover> take_handover(std::string& error);
// Serving: stderr becomes the old process's, then "ready <pid> <version>\n" goes to the old process. The
// problem, empty when told.
std::string report_ready(handover& h);

// --- the old process ---
struct successor {
  pid_t pid = -1;
  owned_fd ready;     // read end: "ready <pid> <version>\n", or end of file when the successor died first
  owned_fd output;    // read end of the successor's stderr until it is ready
  owned_fd confirm;   // write end: "go\n" once this process gives the successor the service
  std::string error;  // it could not be started; then nothing else is set
};
// Starts `exe` with `args` (argv[0] first) and this process's environment plus $DRAWBRIDGE_UPGRADE, the
// listeners and admin socket of `h` inherited, and nothing else: every other descriptor of this process
// (client connections, node connections, log files) is closed in the successor, so that closing one here
// still ends the connection. `h.ready`, `h.stderr_of_old` and `h.confirm` are ignored (made here).
successor start_successor(const std::string& exe, const std::vector<std::string>& args, const handover& h);

}  // namespace drawbridge::process
