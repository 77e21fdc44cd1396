#!/usr/bin/env bash
# Build the playground with Trunk and serve it on http://127.0.0.1:8080 (override: PORT=...).
# It opens with the embedded default trace. Installs missing tools on first run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup-tools.sh
source "$root/scripts/setup-tools.sh"
cd "$root"
exec trunk serve --release --offline --address 127.0.0.1 --port "${PORT:-8080}"
