#!/usr/bin/env python3
"""Memory of idle keep-alive connections: opens N connections to a proxy, sends one small request on each
(sequentially, so that no two are in flight at once), leaves them idle, and reports the growth of the
proxy's resident memory per connection.

usage: idle_memory.py PORT PID [N] [--tls]
  PID: the process that holds the connections (e.g. nginx's worker); --tls: HTTPS (TLS 1.3, no
  certificate check), which counts what each proxy keeps per idle TLS connection as well.
"""
import socket
import ssl
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
    args = [a for a in sys.argv[1:] if a != "--tls"]
    port, pid = int(args[0]), int(args[1])
    count = int(args[2]) if len(args) > 2 else 2000
    context = None
    if "--tls" in sys.argv:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE

    def connect():
        sock = socket.create_connection(("127.0.0.1", port))
        return context.wrap_socket(sock, server_hostname="bench.test") if context else sock

    warm = connect()
    request(warm)
    time.sleep(0.5)
    before = rss_kib(pid)
    held = []
    for _ in range(count):
        sock = connect()
        request(sock)
        held.append(sock)
    time.sleep(1.0)
    after = rss_kib(pid)
    print(f"{(after - before) * 1024 / count:.0f}")
    for sock in held + [warm]:
        sock.close()


if __name__ == "__main__":
    main()
