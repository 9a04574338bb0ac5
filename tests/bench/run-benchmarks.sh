#!/usr/bin/env bash
# Runs the in-process benchmarks (Google Benchmark). They report; a timing
# never fails this script — only a benchmark that cannot run does.
#   tests/bench/run-benchmarks.sh [--quick] [BUILD_DIR]
#   --quick   short runs (CI smoke: every benchmark runs, numbers are rough)
# Results: docs/performance.md says which command produced which numbers.
set -eu

quick=0
build=""
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    help | -h | --help)
      sed -n '2,7p' "$0"
      exit 0
      ;;
    *) build=$arg ;;
  esac
done
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${build:-$top/build}
bench_dir="$build/tests/bench"

args=(--benchmark_counters_tabular=true)
if [ $quick -eq 1 ]; then
  args+=(--benchmark_min_time=0.05)
fi

status=0
for name in packet_bench maglev_bench decider_bench sync_bench; do
  bin="$bench_dir/$name"
  if [ ! -x "$bin" ]; then
    echo "run-benchmarks: $bin is missing (build first)" >&2
    status=1
    continue
  fi
  echo "== $name"
  if [ $quick -eq 1 ] && [ "$name" = decider_bench ]; then
    # 1M associations take ~1 GB and a minute to set up: the full run covers them.
    "$bin" "${args[@]}" --benchmark_filter='/1000$|/100000$|Baseline|Setup' || status=1
  else
    "$bin" "${args[@]}" || status=1
  fi
done
exit $status
