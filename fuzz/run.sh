#!/usr/bin/env bash
# Runs every parser fuzz target (or the ones named) for SECONDS each, one
# after the other, and prints per target the executions, the peak memory
# and what went wrong, then the totals. Exits non-zero when any target
# crashed, hung (an input took longer than 10 s) or ran out of memory
# (2 GiB); the input that did it is in fuzz/artifacts/<target>/.
#
#   fuzz/run.sh 20                 # the CI smoke
#   fuzz/run.sh 600 config_load    # ten minutes of one target
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz
# --locked`). Seeds are read from fuzz/corpus/<target> (committed, never
# written); what the fuzzer learns goes to fuzz/work/corpus/<target> (not
# committed), so later local runs start from it. The targets write only
# below a temporary directory that is removed at the end.
set -uo pipefail

usage() { echo "usage: fuzz/run.sh SECONDS [TARGET...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
secs=$1
shift
case $secs in '' | *[!0-9]*) usage ;; esac

cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
# No sanitizer: every crate of ours forbids `unsafe`, so AddressSanitizer
# would watch only dependencies, at twice the run time; panics, overflow
# checks (debug assertions are on), hangs and memory use are what we look for.
fuzz=(cargo +nightly fuzz)
build=(-s none)

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <("${fuzz[@]}" list)
fi
[ ${#targets[@]} -gt 0 ] || { echo "no fuzz targets found" >&2; exit 1; }

echo "building ${#targets[@]} fuzz targets"
started=$(date +%s)
if ! "${fuzz[@]}" build "${build[@]}"; then
  echo "the fuzz targets do not build" >&2
  exit 1
fi
echo "built in $(($(date +%s) - started)) s"

# Memory-backed when there is /dev/shm: the host-reader targets write files
# for every input.
base=${TMPDIR:-/tmp}
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
scratch=$(mktemp -d "$base/cryptobot-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

total_execs=0
failed=0
printf '%-18s %12s %9s  %s\n' target executions "peak MiB" result
for t in "${targets[@]}"; do
  mkdir -p "fuzz/work/corpus/$t" "$scratch/tmp"
  args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  [ -f "fuzz/dicts/$t.dict" ] && args+=(-dict="fuzz/dicts/$t.dict")
  log="$scratch/$t.log"
  rc=0
  TMPDIR="$scratch/tmp" "${fuzz[@]}" run "${build[@]}" "$t" "fuzz/work/corpus/$t" "fuzz/corpus/$t" -- "${args[@]}" \
    >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -1)
  execs=${execs:-0}
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    result="ok"
  else
    failed=$((failed + 1))
    if grep -q "ERROR: libFuzzer: timeout" "$log"; then
      result="HANG"
    elif grep -q "out-of-memory" "$log"; then
      result="OOM"
    elif grep -q "panicked\|deadly signal\|ERROR: libFuzzer" "$log"; then
      result="CRASH"
    else
      result="FAILED (exit $rc)"
    fi
    unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    [ -n "$unit" ] && result="$result: $unit"
  fi
  total_execs=$((total_execs + execs))
  printf '%-18s %12s %9s  %s\n' "$t" "$execs" "${rss:-?}" "$result"
  if [ "$rc" -ne 0 ]; then
    echo "---- $t:"
    grep -E -A4 -m3 'panicked at|ERROR: libFuzzer|ParseDictionaryFile|^error' "$log" | grep -v '^ *[0-9]*: ' || tail -20 "$log"
    grep -A1 'Reproduce with' "$log" | tail -1
    echo "----"
  fi
done
printf '%-18s %12s %9s  %s\n' total "$total_execs" "" "$failed of ${#targets[@]} targets failed"
echo "fuzz: $((${#targets[@]} - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
