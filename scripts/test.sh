#!/usr/bin/env bash
# Run every check rmaplab has: formatting, clippy (native and wasm32), native tests (KVM tests
# run for real as root with /dev/kvm and say so when skipped), the playground build, and the
# end-to-end test of the built page in headless Chromium. Installs missing tools on first run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup-tools.sh
source "$root/scripts/setup-tools.sh" --browser --qemu
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "clippy (native, all targets)"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "clippy (wasm32: core and the playground)"
cargo clippy --locked --target wasm32-unknown-unknown -p rmaplab-core -p rmaplab-web --lib --bins -- -D warnings

step "rustdoc (no broken or private intra-doc links)"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps

step "native tests"
cargo test --locked --workspace -- --skip real_kvm_

step "real-KVM tests (need root, /dev/kvm and a shadow-paging host; they print SKIPPED otherwise)"
cargo test --locked -p rmaplab --test kvm_collect -- --nocapture --test-threads=1

step "browser tests of the playground's components and state (wasm-bindgen-test in headless Chromium)"
CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}" cargo test --locked -p rmaplab-web --target wasm32-unknown-unknown --test browser

step "playground build (trunk)"
trunk build --release --offline

step "playground end-to-end test (Playwright driving Debian's Chromium; screenshots in web-tests/out/)"
cargo build --locked --release -p rmaplab
(cd web-tests && npm ci --no-audit --no-fund --loglevel=error)
node web-tests/e2e.mjs

step "fuzz smoke run (each cargo-fuzz target 10 s; scripts/fuzz.sh)"
"$root/scripts/fuzz.sh"

printf '\nall checks passed\n'
