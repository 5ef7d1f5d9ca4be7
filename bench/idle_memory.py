#!/usr/bin/env python3
"""Memory of idle keep-alive connections: opens N connections to a proxy, sends one small request on each
(sequentially, so that no two are in flight at once), leaves them idle, and reports the growth of the
proxy's resident memory per connection.

usage: idle_memory.py PORT PID [N]    (PID: the process that holds the connections, e.g. nginx's worker)
"""
import socket
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def request(sock):
    sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: bench\r\nUser-Agent: idle-memory\r\nAccept: */*\r\n\r\n")
    data = b""
    while b"All systems are up" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed")
        data += chunk


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    warm = socket.create_connection(("127.0.0.1", port))
    request(warm)
    time.sleep(0.5)
    before = rss_kib(pid)
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        request(sock)
        held.append(sock)
    time.sleep(1.0)
    after = rss_kib(pid)
    print(f"{(after - before) * 1024 / count:.0f}")
    for sock in held + [warm]:
        sock.close()


if __name__ == "__main__":
    main()
