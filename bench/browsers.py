#!/usr/bin/env python3
"""Appsmith browsers for the mixed-version rollout runs of bench/rollout.sh (VERSIONS=1).

Each browser loads the page (keeping a drawbridge_version cookie when one is set), fetches the bundle the page
names (/static/js/main.<version>.js), then makes API calls with X-Appsmith-Version: <version>. Appsmith's 400
for a version mismatch (AE-BAD-4002) makes it reload, as the real client's "new version, please refresh" does.
Runs for DURATION seconds and prints one line:

  RESULT pages=N calls=N static404=N mismatches=N most_of_one=N failed=N codes=502x3,...

  browsers.py URL BROWSERS DURATION_SECONDS
"""
import http.client
import re
import sys
import threading
import time
import urllib.parse

url, count, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
target = urllib.parse.urlsplit(url)
bundle_name = re.compile(rb'/static/js/main\.([A-Za-z0-9._+-]+)\.js')
lock = threading.Lock()
totals = {"pages": 0, "calls": 0, "static404": 0, "mismatches": 0, "most_of_one": 0, "failed": 0}
codes = {}


def add(key, n=1):
    with lock:
        totals[key] += n


def failed(code):
    with lock:
        totals["failed"] += 1
        codes[code] = codes.get(code, 0) + 1


def browse(deadline):
    connection = None
    cookie = ""
    version = None
    mine = 0

    def get(path, headers):
        nonlocal connection
        for attempt in (0, 1):  # a closed keep-alive connection is opened again once, as a browser would
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                h = dict(headers)
                if cookie:
                    h["Cookie"] = "drawbridge_version=" + cookie
                connection.request("GET", path, headers=h)
                response = connection.getresponse()
                return response.status, response.getheader("Set-Cookie", ""), response.read()
            except (OSError, http.client.HTTPException):
                if connection is not None:
                    connection.close()
                connection = None
                if attempt == 1:
                    return 0, "", b""
        return 0, "", b""

    def load():
        nonlocal cookie, version
        status, set_cookie, body = get("/", {})
        found = bundle_name.search(body)
        if status != 200 or not found:
            failed(status)
            return False
        if set_cookie.startswith("drawbridge_version="):
            cookie = set_cookie.split(";", 1)[0].split("=", 1)[1]
        version = found.group(1).decode()
        add("pages")
        status, _, _ = get("/static/js/main.%s.js" % version, {})
        if status == 404:
            add("static404")
        elif status != 200:
            failed(status)
        return True

    loaded = False
    while time.monotonic() < deadline:
        if not loaded:
            loaded = load()
        else:
            status, _, body = get("/api/v1/users/me", {"X-Appsmith-Version": version})
            add("calls")
            if status == 400 and b"AE-BAD-4002" in body:
                add("mismatches")
                mine += 1
                loaded = load()
            elif status != 200:
                failed(status)
        time.sleep(0.005)  # a browser's pace
    with lock:
        totals["most_of_one"] = max(totals["most_of_one"], mine)


deadline = time.monotonic() + duration
threads = [threading.Thread(target=browse, args=(deadline,)) for _ in range(count)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("RESULT " + " ".join("%s=%d" % kv for kv in totals.items()) + " codes=" +
      ",".join("%sx%d" % (code, n) for code, n in sorted(codes.items())))
