#!/usr/bin/env bash
# Installs what building and testing rmaplab needs, once, into a cache outside the clone
# (default: $HOME/.cache/rmaplab/tools; override with RMAPLAB_TOOLS). Safe to run repeatedly:
# it only installs what is missing. Source it to get PATH set.
#
#   --browser   also install Debian's chromium + chromium-driver (browser tests)
#   --fuzz      also install cargo-fuzz
#   --valgrind  also install Debian's valgrind (benchmark instruction counts)
#   --qemu      also install Debian's qemu-system-x86 where /dev/kvm exists (the real-KVM QMP
#               tests drive it; without /dev/kvm they are skipped, so it is not needed)
set -euo pipefail

RMAPLAB_TOOLS="${RMAPLAB_TOOLS:-$HOME/.cache/rmaplab/tools}"
export PATH="$RMAPLAB_TOOLS/bin:$PATH"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf '[setup] %s\n' "$*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must equal the wasm-bindgen crate in Cargo.lock.
wbg_version="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' "$root/Cargo.lock")"
trunk_version="0.21.14"

install_crate() { # crate version binary
  local crate="$1" version="$2" bin="$3"
  if "$RMAPLAB_TOOLS/bin/$bin" --version 2>/dev/null | grep -q " $version"; then
    return 0
  fi
  say "installing $crate $version into $RMAPLAB_TOOLS (one-off, several minutes)"
  CARGO_TARGET_DIR="$RMAPLAB_TOOLS/../install-target" \
    cargo install --locked --root "$RMAPLAB_TOOLS" "$crate@$version"
}
install_crate trunk "$trunk_version" trunk
install_crate wasm-bindgen-cli "$wbg_version" wasm-bindgen

if [[ " $* " == *" --fuzz "* ]]; then
  if ! "$RMAPLAB_TOOLS/bin/cargo-fuzz" --version >/dev/null 2>&1; then
    say "installing cargo-fuzz into $RMAPLAB_TOOLS (one-off)"
    CARGO_TARGET_DIR="$RMAPLAB_TOOLS/../install-target" cargo install --locked --root "$RMAPLAB_TOOLS" cargo-fuzz@0.13.2
  fi
fi

if [[ " $* " == *" --browser "* ]]; then
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    say "installing Debian's chromium and chromium-driver"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y chromium chromium-driver >/dev/null 2>&1 ||
      { apt-get update >/dev/null && apt-get install -y chromium chromium-driver >/dev/null; }
  fi
fi

if [[ " $* " == *" --valgrind "* ]] && ! command -v valgrind >/dev/null; then
  say "installing Debian's valgrind (callgrind instruction counts)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y valgrind >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y valgrind >/dev/null; }
fi

if [[ " $* " == *" --qemu "* ]] && [[ -e /dev/kvm ]] && ! command -v qemu-system-x86_64 >/dev/null; then
  say "installing Debian's qemu-system-x86 (the real-KVM tests attach to a QEMU guest)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y qemu-system-x86 >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y qemu-system-x86 >/dev/null; }
fi

# Trunk runs offline; make sure every crate is in the local registry cache.
(cd "$root" && cargo fetch --locked >/dev/null)
