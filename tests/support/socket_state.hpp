#pragma once
// What the kernel says of a socket, so that a test waits for the state it needs (bytes arrived, the
// peer's close arrived, a send buffer full) instead of sleeping. Nothing here reads or changes a socket.

#include <cstdint>
#include <optional>

namespace drawbridge::testing {

// `fd` has something to read: bytes, or the peer's close (poll() without waiting).
bool readable(int fd);
// The peer's close (FIN) has arrived at `fd`, after whatever bytes came before it.
bool peer_closed(int fd);

// The kernel's memory accounting of a TCP socket (sock_diag's SK_MEMINFO), in bytes.
struct tcp_memory {
  std::uint32_t send_queued = 0;  // queued to send and not yet acknowledged (sk_wmem_queued)
  std::uint32_t send_buffer = 0;  // the most it may queue (sk_sndbuf): a send blocks once queued reaches it
  std::uint32_t receive_queued = 0;
};
// The TCP socket of this network namespace bound to 127.0.0.1:`local_port` and connected to
// 127.0.0.1:`remote_port` (say, the proxy's end of a client's connection), or nothing when there is none.
std::optional<tcp_memory> tcp_memory_of(std::uint16_t local_port, std::uint16_t remote_port);

// The local port of a connected socket.
std::uint16_t local_port(int fd);

}  // namespace drawbridge::testing
