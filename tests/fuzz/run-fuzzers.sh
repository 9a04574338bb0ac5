#!/usr/bin/env bash
# Bounded fuzzing run (CI): builds the libFuzzer targets with clang in <repo>/build-fuzz (only the
# fuzz targets), runs each for a fixed time from its committed seeds, and fails on any crash,
# keeping the input and printing how to reproduce it. docs/fuzzing.md describes the targets.
#
# usage: tests/fuzz/run-fuzzers.sh [--seconds-per-target N] [--build DIR] [--jobs J] [TARGET...]
#   --seconds-per-target N  fuzzing time per target (default 15: 4 targets, 60 s in all)
#   --build DIR             clang build directory (default <repo>/build-fuzz)
#   --jobs J                build parallelism (default: nproc)
#   TARGET...               some of: packet decide pcap sync (default: all)
# Needs clang++ and libFuzzer (Debian 12: clang libclang-rt-14-dev). New corpus entries go to
# BUILD/fuzz-corpus/TARGET (the committed seeds are only read); crashes to BUILD/fuzz-artifacts.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
build="$top/build-fuzz"
seconds=15
jobs=$(nproc 2>/dev/null || echo 2)
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds-per-target) seconds=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run-fuzzers.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(packet decide pcap sync)
case "$seconds" in '' | *[!0-9]*) echo "run-fuzzers.sh: --seconds-per-target needs a number" >&2; exit 2 ;; esac

# Longest input per target: an IP datagram; a packet sequence or a capture file (the seeds are
# at most ~18 KB); a few sync datagrams (1400 bytes each at most).
max_len_of() {
  case "$1" in
    packet) echo 4096 ;;
    decide) echo 16384 ;;
    pcap) echo 32768 ;;
    sync) echo 8192 ;;
    *) echo "run-fuzzers.sh: unknown target $1 (packet decide pcap sync)" >&2; exit 2 ;;
  esac
}
for t in "${targets[@]}"; do max_len_of "$t" >/dev/null; done

clangxx=$(command -v clang++ || true)
clangc=$(command -v clang || true)
if [ -z "$clangxx" ] || [ -z "$clangc" ]; then
  echo "run-fuzzers.sh: clang/clang++ not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi

echo "== fuzz build ($build, $clangxx)"
cmake -S "$top" -B "$build" -G Ninja -DCMAKE_C_COMPILER="$clangc" -DCMAKE_CXX_COMPILER="$clangxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCTPLB_WERROR=ON -DSCTPLB_BUILD_BENCHMARKS=OFF -DSCTPLB_BUILD_TEST_APPS=OFF >/dev/null
bins=()
for t in "${targets[@]}"; do bins+=("${t}_fuzz"); done
if ! cmake --build "$build" -j "$jobs" --target "${bins[@]}"; then
  echo "run-fuzzers.sh: build failed (libFuzzer missing? Debian: libclang-rt-14-dev)" >&2
  exit 1
fi

status=0
summary=()
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/${t}_fuzz"
  seeds="$top/tests/fuzz/corpus/$t"
  work="$build/fuzz-corpus/$t"
  artifacts="$build/fuzz-artifacts/$t"
  log="$build/fuzz-logs/$t.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  max_len=$(max_len_of "$t")
  echo "== fuzz $t: ${seconds}s, -max_len=$max_len"
  rc=0
  # -timeout: one input running 10 s is a hang; -rss_limit_mb: memory is bounded by design.
  # -seed: the same mutations on every run, so a CI failure reproduces.
  "$bin" -seed=1 -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$seeds" >"$log" 2>&1 || rc=$?
  # libFuzzer's last status line: "#N DONE cov: C ft: F corp: U/S lim: ... exec/s: E rss: ..."
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  line=$(printf '%-7s execs %-9s exec/s %-6s cov %-5s ft %-6s corpus %s' "$t" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}")
  if [ $rc -ne 0 ]; then
    status=1
    crash=$(ls -t "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-* \
      "$artifacts"/slow-unit-* 2>/dev/null | head -n 1 || true)
    line="$line  FAILED (exit $rc)"
    echo "!! $t failed (exit $rc); log: $log"
    grep -E 'ERROR|fuzz invariant failed|runtime error|SUMMARY' "$log" | head -n 5 || true
    if [ -n "$crash" ]; then
      echo "!! input kept: $crash"
      echo "!! reproduce:  $bin $crash"
      echo "!!        or:  <build>/tests/fuzz/${t}_fuzz_replay $crash   (gcc, plain or SCTPLB_SANITIZE=ON)"
    fi
  fi
  summary+=("$line")
done

echo "== fuzz summary (${seconds}s per target; logs in $build/fuzz-logs)"
printf '%s\n' "${summary[@]}"
exit $status
