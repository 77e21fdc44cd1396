#!/usr/bin/env bash
# Produce docs/benchmarks.md: replay throughput per configuration, one vs many configurations
# in one pass, the model vs a plain Vec baseline, decode speed and bytes/event, native vs
# browser (wasm in Chromium) on the same trace, and collector throughput under the heaviest
# built-in workload (when run as root on a shadow-paging KVM host). Takes a few minutes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup-tools.sh
source "$root/scripts/setup-tools.sh" --browser --valgrind
cd "$root"
out="docs/benchmarks.md"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
cargo build --locked --release -p rmaplab >&2
trunk build --release --offline >&2
(cd web-tests && npm ci --no-audit --no-fund --loglevel=error) >&2
rmaplab=target/release/rmaplab
{
  echo "# rmaplab benchmarks"
  echo
  echo "Produced by \`scripts/bench-report.sh\` on $(date -u +%Y-%m-%d) ($(nproc) CPUs, $(uname -m)); medians of paired, interleaved runs."
  echo
  cargo run --locked --release -q -p rmaplab-core --example bench_report -- web/assets/default.rmap
  echo
  ./scripts/bench-harsh.sh
  echo
  echo "### Native vs browser (wasm in headless Chromium) on the same trace"
  echo
  node web-tests/bench.mjs > "$tmp" 2>&1
  trace="web-tests/out/bench-1m.rmap"
  best=999999
  for _ in 1 2 3; do
    s=$( { /usr/bin/time -f "%e" "$rmaplab" replay "$trace" --entries 2,3,4,14 --quiet --format csv > /dev/null; } 2>&1 | tail -1)
    best=$(python3 -c "print(min($best, $s))")
  done
  rss=$( { /usr/bin/time -f "%M" "$rmaplab" replay "$trace" --entries 2,3,4,14 --quiet --format csv > /dev/null; } 2>&1 | tail -1)
  # One core each: native --threads 1 against the browser's one worker (the per-core target).
  best1=999999
  for _ in 1 2 3; do
    s=$( { /usr/bin/time -f "%e" "$rmaplab" replay "$trace" --entries 2,3,4,14 --threads 1 --quiet --format csv > /dev/null; } 2>&1 | tail -1)
    best1=$(python3 -c "print(min($best1, $s))")
  done
  one_worker_ms=$(grep '^browser.*1 worker' "$tmp" | sed 's/.*: \([0-9]*\) ms.*/\1/')
  echo "| run | result |"
  echo "|---|---|"
  echo "| trace | $(grep '^trace:' "$tmp" | sed 's/^trace: //') |"
  echo "| native \`rmaplab replay\`, 8 configurations (2,3,4,14 × both eras) | ${best} s (best of 3), ${rss} KB peak RSS |"
  echo "| browser: load + replay in one worker + render, same 8 configurations | $(grep '^browser.*1 worker' "$tmp" | sed 's/.*: //') |"
  echo "| browser: the same, configurations shared by one worker per core ($(grep '^browser.*workers' "$tmp" | sed 's/.*, \([0-9]*\) workers.*/\1/')) | $(grep '^browser.*workers' "$tmp" | sed 's/.*: //') |"
  echo "| page responsiveness during the browser replay | $(grep '^main-thread' "$tmp" | sed 's/.*replay: //') |"
  echo
  echo "Per core: native \`--threads 1\` takes ${best1} s (best of 3) for the same 8 configurations; the browser's one worker, upload and rendering included, takes $(python3 -c "print(f'{$one_worker_ms / 1000 / $best1:.2f}')")× that."
  echo
  echo "### Capture import in the browser (upload to rendered results, 14/head-insert)"
  echo
  echo "The committed captures of one fork run (about 8 900 kvmmmu events each; the time is mostly page and worker overhead at this size):"
  echo
  echo "| capture | time |"
  echo "|---|---|"
  grep '^capture ' "$tmp" | sed 's/^capture \(.*\): upload to rendered results \(.*\)$/| \1 | \2 |/'
  echo
  echo "### Scale: memory is bounded by the live rmap state, not by the trace"
  echo
  big="$(mktemp -d)"
  "$rmaplab" gen --vcpus 8 churn --cycles 33000 --batch 1000 --gfns 4096 --spaces 32 -o "$big/huge.rmap" 2>/dev/null
  n=$("$rmaplab" replay "$big/huge.rmap" --entries 14 --era head-insert --quiet | grep -o '[0-9]* events' | tail -1)
  r8=$( { /usr/bin/time -f "%e s, %M KB peak RSS" "$rmaplab" replay "$big/huge.rmap" --entries 2,3,4,14 --quiet --format csv > /dev/null; } 2>&1 | tail -1)
  r1=$( { /usr/bin/time -f "%e s, %M KB peak RSS" "$rmaplab" replay "$big/huge.rmap" --entries 14 --era head-insert --quiet --format csv > /dev/null; } 2>&1 | tail -1)
  echo "| trace | replay |"
  echo "|---|---|"
  echo "| churn, $n, $(stat -c %s "$big/huge.rmap") bytes binary | 8 configurations (2,3,4,14 × both eras): $r8; 14/head-insert alone: $r1 |"
  rm -rf "$big"
  BENCH_GEN="--vcpus 8 churn --cycles 3300 --batch 1000 --gfns 4096 --spaces 32" node web-tests/bench.mjs > "$tmp" 2>&1
  echo "| browser, $(grep '^trace:' "$tmp" | sed 's/.*: //') | 8 configurations, upload to rendered results: $(grep '^browser.*1 worker' "$tmp" | sed 's/.*: //') in one worker, $(grep '^browser.*workers' "$tmp" | sed 's/.*: //') in one worker per core; page round trips during the replay: $(grep '^main-thread' "$tmp" | sed 's/.*replay: //') |"
  echo
  echo "### Collector"
  echo
  if [ "$(id -u)" = 0 ] && [ -e /dev/kvm ]; then
    args="--vcpus 2 --mmu-pages 60000 spread --gfns 60000 --max-aliases 256 --skew-tenths 12"
    # shellcheck disable=SC2086
    line=$("$rmaplab" collect $args -o "$tmp.rmap" 2>&1 | grep '^wrote' | sed 's/^wrote [^ ]* //' || true)
    rm -f "$tmp.rmap"
    echo "Heaviest built-in workload: \`rmaplab collect $args\`"
    echo
    echo "    trace $line"
  else
    echo "Not measured: needs root and /dev/kvm on a shadow-paging host."
  fi
} > "$out.partial"
mv "$out.partial" "$out"
echo "wrote $out" >&2
