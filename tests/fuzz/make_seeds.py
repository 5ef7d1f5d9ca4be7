#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/<harness>/ (checked in; run again after changing a seed).

Each seed is the control bytes a harness reads first (see the comment at the top of its .cpp) followed by
the bytes under test. Crash inputs added as regressions live beside them under other names and are kept.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CRLF = b"\r\n"


def http(*lines, body=b""):
    return CRLF.join(l.encode() if isinstance(l, str) else l for l in lines) + CRLF + CRLF + body


def frame(kind, flags, stream, payload=b""):
    """One HTTP/2 frame (RFC 9113 §4.1)."""
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


# HPACK (RFC 7541) from the static table: :method GET (2) or POST (3), :scheme http (6), :path / (4), then
# :authority (1) as a literal.
GET_BLOCK = b"\x82\x86\x84\x01\x0atest.local"
POST_BLOCK = b"\x83\x86\x84\x01\x0atest.local"
SETTINGS = frame(4, 0, 0, struct.pack(">HI", 4, 65535))
ADD_BODY = b'{"name":"node4","address":"127.0.0.1:12","weight":5}'

SEEDS = {
    # byte 0: split seed; then the client's bytes
    "request_head": {
        "get": b"\x00" + http("GET /api/v1/health HTTP/1.1", "Host: app.example"),
        "post_length": b"\x13" + http("POST /x HTTP/1.1", "Host: a", "Content-Length: 5", body=b"hello"),
        "post_chunked": b"\x21" + http("POST /x HTTP/1.1", "Host: a", "Transfer-Encoding: chunked",
                                       body=b"5\r\nhello\r\n0\r\n\r\n"),
        "absolute_http10": b"\x01" + http("GET http://a.example:8080/b?c HTTP/1.0", "Connection: keep-alive"),
        "websocket": b"\x47" + http("GET /ws HTTP/1.1", "Host: a", "Connection: Upgrade", "Upgrade: websocket",
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"),
        "hop_by_hop": b"\x05" + http("PUT /y HTTP/1.1", "Host: a", "Connection: close, X-Secret, Host",
                                     "X-Secret: 1", "X-Forwarded-For: 10.0.0.1", "x-forwarded-for: 10.0.0.2",
                                     "Proxy-Authorization: x", "TE: trailers", "Expect: 100-continue",
                                     "Content-Length: 0"),
        "options_star": b"\x02" + http("OPTIONS * HTTP/1.1", "Host: a", "Transfer-Encoding: gzip, chunked"),
    },
    # byte 0 flags (1: by length, 2: filler), byte 1 split seed, byte 2 buffer size, bytes 3-4 filler
    "request_body": {
        "chunked": b"\x00\x00\x07\x00\x00" + b"5\r\nhello\r\n0\r\n\r\n",
        "chunked_split": b"\x00\x11\x00\x00\x00" + b"3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n",
        "extensions_trailers": b"\x00\x23\x03\x00\x00" + b"3;name=val;q=\"x y\"\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
        "pipelined": b"\x00\x01\x04\x00\x00" + b"1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "truncated": b"\x00\x02\x02\x00\x00" + b"10\r\nabc",
        "by_length": b"\x01\x05\x02\x00\x00" + b"helloworldGET / HTTP/1.1\r\n\r\n",
        "long_extension": b"\x02\x07\x07a\x02" + b"5;",
    },
    # byte 0 flags (1: HEAD, 2: HTTP/1.0 client, 4: keep-alive), byte 1 split seed, byte 2 buffer size
    "response": {
        "length": b"\x04\x00\x07" + http("HTTP/1.1 200 OK", "Content-Length: 5", "Content-Type: text/plain",
                                         body=b"hello"),
        "chunked": b"\x04\x13\x03" + http("HTTP/1.1 200 OK", "Transfer-Encoding: chunked",
                                          body=b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n"),
        "until_close": b"\x06\x21\x05" + http("HTTP/1.0 200 OK", "Content-Type: text/html",
                                              body=b"<html>all of it until the close</html>"),
        "interim": b"\x04\x05\x06" + http("HTTP/1.1 100 Continue") + http("HTTP/1.1 103 Early Hints",
                                          "Link: </a.css>") + http("HTTP/1.1 201 Created", "Content-Length: 2",
                                                                     body=b"ok"),
        "head": b"\x05\x00\x07" + http("HTTP/1.1 200 OK", "Content-Length: 12345"),
        "no_content": b"\x04\x02\x07" + http("HTTP/1.1 204 No Content", "Connection: keep-alive, X-A",
                                             "Keep-Alive: timeout=5", "X-A: 1", "Proxy-Foo: 2"),
        "not_modified": b"\x00\x00\x07" + http("HTTP/1.1 304 Not Modified", "ETag: \"x\""),
    },
    # byte 0 split seed, then the node's stream (byte 1 doubles as the close code)
    "websocket_frames": {
        "text": b"\x00" + b"\x81\x05hello" + b"\x89\x00" + b"\x8a\x00",
        "masked": b"\x13" + b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
        "fragments": b"\x05" + b"\x01\x03Hel" + b"\x89\x01!" + b"\x80\x02lo",
        "length16": b"\x21" + b"\x82\x7e\x01\x00" + bytes(range(256)),
        "length64": b"\x07" + b"\x82\x7f" + struct.pack(">Q", 3) + b"abc" + b"\x88\x02\x03\xe8",
        "lost": b"\x02" + b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00" + b"whatever",
    },
    # byte 0 level and flushes, byte 1 split seed, byte 2 repeats; then the body
    # byte 0: split seed; byte 1: how requests are answered; then the frames after the preface
    "h2_frames": {
        "get": b"\x00\x00" + SETTINGS + frame(1, 0x5, 1, GET_BLOCK),
        "post_body": b"\x13\x00" + SETTINGS + frame(1, 0x4, 1, POST_BLOCK) + frame(0, 0, 1, b"hello")
                     + frame(0, 0x1, 1, b"world"),
        "continuation": b"\x05\x01" + SETTINGS + frame(1, 0x1, 3, GET_BLOCK[:4]) + frame(9, 0x4, 3, GET_BLOCK[4:]),
        "reset_ping_window": b"\x00\x02" + SETTINGS + frame(1, 0x5, 1, GET_BLOCK) + frame(3, 0, 1, b"\0\0\0\x08")
                             + frame(6, 0, 0, b"12345678") + frame(8, 0, 0, b"\0\0\x10\0")
                             + frame(1, 0x5, 3, b"\x82\x86\x84\x01\x0atest.local\x40\x06cookie\x03a=1"),
        "goaway": b"\x02\x00" + SETTINGS + frame(7, 0, 0, b"\0\0\0\0\0\0\0\0"),
    },
    "gzip": {
        "json": b"\x00\x13\x00" + b'{"responseMeta":{"status":200,"success":true},"data":[1,2,3,4,5,6,7,8]}',
        "text_sync": b"\x15\x05\x01" + b"the quick brown fox jumps over the lazy dog " * 8,
        "binary": b"\x28\x21\x07" + bytes((i * 37 + 11) % 256 for i in range(2000)),
        "empty": b"\x08\x00\x00",
        "runs": b"\x30\x07\x03" + b"a" * 300 + b"b" * 300 + b"ab" * 100,
    },
    # byte 0 reader (0 config, 1 state file, 2 units and addresses, 3 tokens)
    "config_files": {
        "config_demo": b"\x00" + open(os.path.join(HERE, "..", "..", "conf", "demo.json"), "rb").read(),
        "config_small": b"\x00" + b'{"listeners":[{"address":"127.0.0.1:0"}],"upstreams":[{"name":"a","nodes":'
                                 b'[{"name":"n","address":"[::1]:9"}]}],"timeouts":{"read":"5m"},'
                                 b'"limits":{"max_body_size":"1g"}}',
        "state": b"\x01" + b'{"version":1,"upstreams":[{"name":"app","nodes":[{"name":"node1","address":'
                          b'"127.0.0.1:9001","weight":2,"admin_state":"drained","added":false},{"name":"new",'
                          b'"address":"[::1]:80","admin_state":"ready","added":true}],"removed":["node3"]}]}',
        "duration": b"\x02" + b"250ms",
        "size": b"\x02" + b"16k",
        "address": b"\x02" + b"[2001:db8::1]:8443",
        "tokens": b"\x03" + b"# ops\nops:s3cret-1\n\nplain-token\nci: spaced \n",
    },
    # byte 0 flags (1: token file, 2: metrics_auth); then one HTTP request
    "admin_api": {
        "list": b"\x00" + http("GET /v1/upstreams HTTP/1.1", "Host: 127.0.0.1"),
        "node": b"\x01" + http("GET /v1/upstreams/app/nodes/node2 HTTP/1.1", "Host: 127.0.0.1",
                               "Authorization: Bearer tok-ops-1"),
        "drain": b"\x00" + http("POST /v1/upstreams/app/nodes/node1/drain?force=true HTTP/1.1", "Host: a",
                                "Content-Length: 0"),
        "drain_wait": b"\x01" + http("POST /v1/upstreams/app/nodes/node1/drain?wait=1s HTTP/1.1", "Host: a",
                                     "Authorization: Bearer tok-ci-2", "Content-Length: 0"),
        "undrain": b"\x00" + http("POST /v1/upstreams/app/nodes/node3/undrain HTTP/1.1", "Host: a",
                                  "Content-Length: 0"),
        "add": b"\x00" + http("POST /v1/upstreams/app/nodes HTTP/1.1", "Host: a", "Content-Type: application/json",
                              "Content-Length: %d" % len(ADD_BODY), body=ADD_BODY),
        "remove": b"\x01" + http("DELETE /v1/upstreams/app/nodes/node2?force=true HTTP/1.1", "Host: a",
                                 "Authorization: Bearer tok-ops-1"),
        "metrics": b"\x03" + http("GET /metrics HTTP/1.1", "Host: a", "Authorization: Bearer tok-ops-1"),
        "readyz": b"\x00" + http("GET /readyz HTTP/1.1", "Host: a"),
        "tls_reload": b"\x00" + http("POST /v1/tls/reload HTTP/1.1", "Host: a", "Content-Length: 0"),
        "tls_status": b"\x00" + http("GET /v1/tls HTTP/1.1", "Host: a"),
        "tls_renew": b"\x00" + http("POST /v1/tls/renew?listener=127.0.0.1:0 HTTP/1.1", "Host: a", "Content-Length: 0"),
    },
}


def client_hello(server_name, alpn):
    """The first record a TLS client sends, made by Python's ssl module (OpenSSL) on memory BIOs."""
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        client.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


# Input: what a client sends first
SEEDS["client_hello"] = {
    "validation": client_hello("a.test", ["acme-tls/1"]),
    "validation_other_name": client_hello("b.test", ["acme-tls/1"]),
    "browser": client_hello("a.test", ["h2", "http/1.1"]),
    "no_sni": client_hello(None, ["acme-tls/1", "http/1.1"]),
    "no_alpn": client_hello("b.test", None),
}


def main():
    for harness, seeds in SEEDS.items():
        folder = os.path.join(HERE, "corpus", harness)
        os.makedirs(folder, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
