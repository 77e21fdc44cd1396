#!/usr/bin/env bash
# The "harsh stream" section of docs/benchmarks.md (run by scripts/bench-report.sh, or alone):
# instructions per list operation under callgrind for the replay path, RmapSet and a minimal
# list-only baseline, decode instructions per event, `rmaplab replay` end to end, and wall-clock
# events/s for 1 and 8 configurations on one thread and on every CPU.
#
# The stream: 3 M add/remove/zap operations over 100 k rmaps (`opcost gen`, about 1.2 M live
# SPTEs at the end). HARSH_STREAM=FILE replays another trace instead (any encoding rmaplab reads).
# Needs valgrind (installed if missing). Takes about 20 minutes on a 2-core machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v valgrind >/dev/null; then
  echo "[bench-harsh] installing Debian's valgrind" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y valgrind >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y valgrind >/dev/null; }
fi
cargo build --locked --release -p rmaplab -p rmaplab-core --example opcost >&2
opcost=target/release/examples/opcost
rmaplab=target/release/rmaplab
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ -n "${HARSH_STREAM:-}" ]; then
  "$rmaplab" convert "$HARSH_STREAM" "$work/harsh.rmap" --to binary --quiet >&2
  origin="\`HARSH_STREAM\` ($(basename "$HARSH_STREAM"))"
else
  "$opcost" gen 7 3000000 100000 "$work/harsh.rmap" >&2
  origin="\`opcost gen 7 3000000 100000\`"
fi
trace="$work/harsh.rmap"
n_events=$("$opcost" decode "$trace" | awk '{print $1}')

# Instructions counted inside the measured function, divided by the operations it did.
per_op() {
  local out="$work/cg.out" res ir ops
  res=$(valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
    --toggle-collect='*measured_*' "$opcost" "$@" 2>/dev/null)
  ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$out")
  case "$1" in
    decode) ops=$(echo "$res" | awk '{print $1; exit}') ;;
    *) ops=$(echo "$res" | grep -o '[0-9]* list operations' | awk '{print $1}') ;;
  esac
  python3 -c "print(f'{$ir / $ops:.0f}')"
}

bytes=$(stat -c %s "$trace")
echo "### Harsh stream: the replay path against the kernel's own list code"
echo
echo "Stream: $origin — $n_events events, $bytes bytes binary ($(python3 -c "print(f'{$bytes/$n_events:.2f}')") bytes per event); the default is 3 M list operations over 100 k rmaps, about 1.2 M SPTEs live at the end."
echo "Instructions per operation under callgrind (\`core/examples/opcost.rs\`, counting only the measured loop)."
echo "The kernel row is quoted, not rerun: the kernel's \`pte_list_*\` C code transcribed into userspace (calloc/free as the slab), measured on a stream of the same mix (issue 10)."
echo
echo "| path | N=14 head-insert | N=14 tail-append | N=2 head-insert | N=2 tail-append |"
echo "|---|---|---|---|---|"
echo "| kernel C list code (quoted) | 54 | 54 | 103–116 | 103–116 |"
echo "| minimal list-only Rust (\`rmaplab_core::baseline\`, head-insert only) | $(per_op baseline "$trace" 14) | – | $(per_op baseline "$trace" 2) | – |"
echo "| floor of any replay: the trace's SPTE and rmap ids resolved through two hash maps, then the minimal list code; no metric (\`opcost floor\`, head-insert only) | $(per_op floor "$trace" 14) | – | $(per_op floor "$trace" 2) | – |"
row() {
  local name="$1" mode="$2"
  echo "| $name | $(per_op "$mode" "$trace" 14 head-insert) | $(per_op "$mode" "$trace" 14 tail-append) | $(per_op "$mode" "$trace" 2 head-insert) | $(per_op "$mode" "$trace" 2 tail-append) |"
}
row "\`RmapSet\` (list operations with their cost recording)" rmapset
row "\`Replayer\`, one configuration, every metric on" replay
echo
echo "The floor row is what replaying a trace costs before any metric: the kernel's list code is handed the rmap head and the SPTE pointer, while a trace names both by id, so a replay must map the ids (and know which rmap holds each SPTE, to refuse a capture that lost or repeated events)."
echo
one=$(per_op replay "$trace" 14 head-insert)
eight=$(per_op replay8 "$trace")
echo "Eight configurations (2, 3, 4, 14 × both eras) in one \`Replayer\`: $eight instructions per operation, $(python3 -c "print(f'{$eight / $one:.1f}')")× one configuration."
echo "Binary decode: $(per_op decode "$trace") instructions per event."
valgrind --tool=callgrind --callgrind-out-file="$work/cli.out" "$rmaplab" replay "$trace" --entries 14 --era head-insert --threads 1 --quiet --format csv >/dev/null 2>&1
cli=$(awk '/^(summary|totals):/ {print $2; exit}' "$work/cli.out")
echo "\`rmaplab replay\` end to end (read, decode, replay, report; one configuration, \`--threads 1\`): $(python3 -c "print(f'{$cli / $n_events:.0f}')") instructions per event."
echo
echo "Wall clock, best of 3 (\`rmaplab replay --quiet --format csv\`), $(nproc) CPUs:"
echo
echo "| configurations | \`--threads 1\` | default (one thread per CPU) |"
echo "|---|---|---|"
wall() {
  local best=999999 s
  for _ in 1 2 3; do
    /usr/bin/time -f "%e" -o "$work/time" "$rmaplab" replay "$trace" "$@" --quiet --format csv >/dev/null 2>&1
    s=$(tail -1 "$work/time")
    best=$(python3 -c "print(min($best, $s))")
  done
  python3 -c "print(f'{$best:.2f} s, {$n_events / max($best, 0.001) / 1e6:.2f} M events/s')"
}
echo "| 1 (14/head-insert) | $(wall --entries 14 --era head-insert --threads 1) | $(wall --entries 14 --era head-insert) |"
echo "| 8 (2, 3, 4, 14 × both eras) | $(wall --entries 2,3,4,14 --threads 1) | $(wall --entries 2,3,4,14) |"
