#!/usr/bin/env bash
# Serve dist/ on loopback and check, in headless Chromium, that the page renders the default
# trace's results (the table row of KVM today's configuration).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${SMOKE_PORT:-18080}"
profile="$(mktemp -d)"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$root/dist" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$profile"' EXIT
for _ in $(seq 50); do
  python3 - "$port" <<'PY' 2>/dev/null && break
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()
PY
  sleep 0.1
done
dom="$(timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --virtual-time-budget=15000 --dump-dom "http://127.0.0.1:$port/" 2>/dev/null)"
for want in "rmaplab playground" "14/head-insert" "2/tail-append" "rmaplab collect"; do
  if ! grep -q "$want" <<<"$dom"; then
    echo "smoke test: the rendered page lacks \"$want\"" >&2
    echo "$dom" | head -c 2000 >&2
    exit 1
  fi
done
echo "smoke test: the playground rendered the default trace's results"
