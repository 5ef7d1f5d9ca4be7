#pragma once
// systemd's notify protocol (sd_notify(3)), written out: one datagram of "KEY=VALUE" lines to the Unix
// socket named by $NOTIFY_SOCKET. Without the variable (not started by systemd with Type=notify) it does
// nothing. The protocol is small and stable, so no libsystemd: one less library on every host.

#include <string>
#include <string_view>

namespace drawbridge::process {

// Sends `state` ("READY=1", "RELOADING=1\nMONOTONIC_USEC=...", "STOPPING=1", "STATUS=...") to the service
// manager. Returns the problem, empty when it was sent or when there is no service manager to tell.
std::string notify_service_manager(std::string_view state);

// "MONOTONIC_USEC=<CLOCK_MONOTONIC now in microseconds>": what Type=notify-reload wants beside RELOADING=1.
std::string monotonic_usec_line();

}  // namespace drawbridge::process
