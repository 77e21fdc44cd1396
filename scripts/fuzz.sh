#!/usr/bin/env bash
# Run every cargo-fuzz target for SECONDS each (default 10; CI's smoke run). Crashes land in
# fuzz/artifacts/<target>/ and fail the run; turn each into a regression test.
#   SECONDS_PER_TARGET=600 ./scripts/fuzz.sh      # a long run
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup-tools.sh
source "$root/scripts/setup-tools.sh" --fuzz
secs="${SECONDS_PER_TARGET:-10}"
cd "$root/fuzz"
# cargo-fuzz needs nightly-only sanitizer flags; the stable toolchain accepts them this way.
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
# The binary capture readers start from the real captures the tests use.
caps="$root/core/tests/fixtures/captures"
mkdir -p seeds/trace_dat seeds/perf_data seeds/any_input
cp -f "$caps"/*.dat seeds/trace_dat/
find "$caps" -size -200k -type f -exec cp -f {} seeds/any_input/ \;
# Small seeds only: a 1 MB perf.data slows the fuzzer to a few dozen executions a second.
find "$caps" -name '*.data' -size -200k -exec cp -f {} seeds/perf_data/ \;
for t in binary_decode jsonl_decode ftrace_import model_ops trace_dat perf_data any_input; do
  mkdir -p "corpus/$t"
  echo "fuzzing $t for ${secs}s"
  cargo fuzz run "$t" -O "corpus/$t" "seeds/$t" -- -max_total_time="$secs" -print_final_stats=1 2>&1 |
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss)|DONE.*cov:|SUMMARY|panicked' || true
  if [ -n "$(ls -A "artifacts/$t" 2>/dev/null)" ]; then
    echo "fuzz target $t found a crash: see fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
