#!/usr/bin/env bash
# Produce docs/benchmarks-captures.md: `rmaplab import` and `rmaplab replay` of large real
# captures (time and peak RSS) beside `trace-cmd report -R` and `perf script` on the same files.
#
#   scripts/bench-captures.sh DIR
#
# DIR holds captures recorded during `rmaplab collect churn` runs (see the table's commands):
# churnA.dat / churnB.dat (trace-cmd record -b 65536 -e kvmmmu; B runs 4x the cycles of A) and
# churnA.perf.data / churnB.perf.data (perf record -a -m 8M -e 'kvmmmu:*'). Files missing from
# DIR are skipped. Needs GNU time (/usr/bin/time); trace-cmd and perf where present.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:?usage: scripts/bench-captures.sh DIR (see the header)}"
cd "$root"
cargo build --locked --release -p rmaplab >&2
rmaplab="$root/target/release/rmaplab"
out="docs/benchmarks-captures.md"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# best wall seconds and the peak RSS (KB) of that run, of 3 runs of the command
measure() {
  local best=999999 rss=0 line s m
  for _ in 1 2 3; do
    /usr/bin/time -o "$tmp/time" -f "%e %M" "$@" > /dev/null 2>&1 || true
    line=$(tail -1 "$tmp/time")
    s=${line% *}
    m=${line#* }
    if python3 -c "import sys; sys.exit(0 if $s < $best else 1)"; then
      best=$s
      rss=$m
    fi
  done
  echo "$best $rss"
}

{
  echo "# Large captures: import and replay against the standard tools"
  echo
  echo "Produced by \`scripts/bench-captures.sh\` on $(date -u +%Y-%m-%d) ($(nproc) CPUs, $(uname -m)); best of 3 wall seconds, with that run's peak RSS."
  echo "rmaplab reads a capture in passes by offset and holds none of it (\`core/src/import/stream.rs\`)."
  echo
  echo "The captures were recorded during \`rmaplab collect --vcpus 2 --mmu-pages 20000 --seed 9 churn --batch 500 --gfns 16384 --spaces 16 --cycles C\`, C = 100 (A) and 400 (B, 4x as long): trace.dat with \`trace-cmd record -b 262144 -e kvmmmu\` (B: \`-b 1048576\`; through \`record-on-this-host.sh\` of the captures fixtures), perf.data with \`perf record -a -m 8M -e 'kvmmmu:*'\`. The CLI decodes trace.dat's zstd chunks with libzstd (the page with the pure-Rust \`ruzstd\`)."
  echo
  echo "| capture | bytes | \`rmaplab import\` | \`rmaplab replay\` (14/head-insert) | standard tool on the same file | import / tool |"
  echo "|---|---|---|---|---|---|"
  for f in churnA.dat churnB.dat churnA.perf.data churnB.perf.data; do
    p="$dir/$f"
    [ -f "$p" ] || continue
    read -r iw im < <(measure "$rmaplab" import "$p" -o "$tmp/out.rmap")
    read -r rw rm_ < <(measure "$rmaplab" replay "$p" --entries 14 --era head-insert --quiet --format csv)
    case "$f" in
      *.dat) tool="trace-cmd report -R"; cmd=(sh -c "trace-cmd report -R '$p' > /dev/null 2>&1") ;;
      *) tool="perf script"; cmd=(sh -c "perf script -i '$p' > /dev/null 2>&1") ;;
    esac
    if command -v "${tool%% *}" > /dev/null; then
      read -r tw tm < <(measure "${cmd[@]}")
      ratio=$(python3 -c "print(f'{$iw / $tw:.3f}')")
      toolcell="\`$tool\`: ${tw} s, $((tm / 1024)) MB"
    else
      toolcell="(${tool%% *} not installed)"
      ratio="–"
    fi
    echo "| $f | $(stat -c %s "$p") | ${iw} s, $((im / 1024)) MB | ${rw} s, $((rm_ / 1024)) MB | $toolcell | $ratio |"
  done
  # The sections after the table (the page's figures, by web-tests/bigcapture.mjs) are kept.
  if [ -f "$out" ]; then
    echo
    sed -n '/^## /,$p' "$out"
  fi
} > "$tmp/md"
mv "$tmp/md" "$out"
echo "wrote $out" >&2
