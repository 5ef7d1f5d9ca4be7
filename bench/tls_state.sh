#!/usr/bin/env bash
# Builds and runs bench/tls_state.cpp: what OpenSSL itself keeps per idle server-side TLS connection, the
# floor under every proxy's idle HTTPS memory in bench/tls.sh (bench/in-the-way.md). Needs g++ and
# libssl-dev (scripts/install-deps installs both); takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in openssl g++; do
  command -v "$tool" >/dev/null || { echo "tls_state.sh: needs $tool (scripts/install-deps --bench installs it)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/drawbridge-tls-state.XXXXXX)
trap 'rm -rf "$work"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=bench.test" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
g++ -std=c++20 -O1 bench/tls_state.cpp -o "$work/tls_state" -lssl -lcrypto
"$work/tls_state" "$work/cert.pem" "$work/key.pem"
