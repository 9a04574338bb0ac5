#!/usr/bin/env bash
# sctplb developer entry point. See README.md.
#   ./run.sh demo    the main job: a demonstration of multihomed load balancing
#   ./run.sh test    install what is missing (apt), build, run every test
set -eu

top=$(cd "$(dirname "$0")" && pwd)
build="${SCTPLB_BUILD:-$top/build}"
build_asan="${SCTPLB_BUILD_ASAN:-$top/build-asan}"
jobs=$(nproc 2>/dev/null || echo 2)

# Debian 12 packages the project builds, tests and demonstrates with.
packages=(
  build-essential cmake ninja-build pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  libnetfilter-queue-dev libmnl-dev libnftnl-dev libpcap-dev libxxhash-dev nlohmann-json3-dev
  prometheus-cpp-dev python3-prometheus-client
  libusrsctp-dev libsctp-dev libssl-dev openssl libfreediameter-dev libosmo-sigtran-dev
  iproute2 iptables nftables tcpdump procps python3 jq gnuplot-nox
  clang libclang-rt-14-dev
  qemu-system-x86 busybox-static cpio kmod
  pandoc lintian systemd man-db
)

log() { printf '\033[1m== [%ss] %s\033[0m\n' "$SECONDS" "$*"; }

install_deps() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "dependencies: all ${#packages[@]} packages present"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: missing packages (${missing[*]}); run as root to install them" >&2
    exit 2
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The main build (./build): Release, as users build it. build, test and demo share its directory
# and type, so `./run.sh demo` after `./run.sh test` does not rebuild. Only test asks for
# -Werror (SCTPLB_WERROR, a cached option that build and demo leave as it is).
main_build_type=Release

configure_and_build() {
  local dir=$1
  shift
  cmake -S "$top" -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

cmd_build() {
  install_deps
  log "build ($build, $main_build_type)"
  configure_and_build "$build" -DCMAKE_BUILD_TYPE=$main_build_type
}

cmd_test() {
  install_deps
  log "build ($build, $main_build_type, warnings are errors)"
  configure_and_build "$build" -DCMAKE_BUILD_TYPE=$main_build_type -DSCTPLB_WERROR=ON
  log "build with AddressSanitizer + UndefinedBehaviorSanitizer ($build_asan, Debug, warnings are errors)"
  configure_and_build "$build_asan" -DCMAKE_BUILD_TYPE=Debug -DSCTPLB_SANITIZE=ON -DSCTPLB_WERROR=ON \
    -DSCTPLB_BUILD_BENCHMARKS=OFF -DSCTPLB_BUILD_TEST_APPS=OFF
  local status=0 asan_status=0 asan_pid asan_log="$build_asan/unit-tests.log"
  # The sanitizer unit tests run alongside the integration tests, which mostly wait on
  # timers and namespaces (the unit tests of the normal build run among them already).
  # (Building the sanitizer tree there too was tried: the integration tests then took as
  # much longer as the build saved.)
  log "unit tests under ASan/UBSan (in the background; log: $asan_log)"
  ctest --test-dir "$build_asan" -L unit --output-on-failure -j 1 >"$asan_log" 2>&1 &
  asan_pid=$!
  log "unit, integration and VM tests"
  # Two at a time: each test has namespaces of its own; the CPU-bound ones are RUN_SERIAL.
  ctest --test-dir "$build" --output-on-failure -j "$jobs" || status=1
  wait "$asan_pid" || asan_status=1
  log "unit tests under ASan/UBSan: $([ $asan_status = 0 ] && echo passed || echo FAILED)"
  if [ $asan_status -ne 0 ]; then
    cat "$asan_log"
    status=1
  else
    tail -n 3 "$asan_log"
  fi
  log "bounded fuzzing (clang, libFuzzer + ASan/UBSan; docs/fuzzing.md)"
  # A seeded smoke run (5 s per target keeps the suite within its time budget); the long
  # runs are in docs/fuzzing.md.
  "$top/tests/fuzz/run-fuzzers.sh" --seconds-per-target 5 --jobs "$jobs" || status=1
  log "benchmarks (report only; a timing never fails the run)"
  "$top/tests/bench/run-benchmarks.sh" --quick "$build" || status=1
  if [ "$(id -u)" -eq 0 ]; then
    log "NFQUEUE throughput, quick (report only)"
    "$top/tests/bench/nfq-throughput.sh" --quick --build "$build" || status=1
    log "association setups per second through the daemon, quick (report only)"
    "$top/tests/bench/nfq-setups.sh" --quick --build "$build" || status=1
  else
    log "NFQUEUE throughput and setups skipped: need root (network namespaces, iptables)"
  fi
  if [ $status -ne 0 ]; then
    log "FAILED"
    exit 1
  fi
  log "all tests passed"
}

# The Debian package (CPack): ./build/sctplb_VERSION_amd64.deb; tests/package checks it.
cmd_package() {
  install_deps
  log "build ($build, $main_build_type)"
  configure_and_build "$build" -DCMAKE_BUILD_TYPE=$main_build_type
  log "package"
  (cd "$build" && cpack -G DEB)
}

cmd_demo() {
  install_deps
  if [ ! -x "$build/lb/cli/sctplb" ]; then
    log "build ($build, $main_build_type)"
    configure_and_build "$build" -DCMAKE_BUILD_TYPE=$main_build_type
  fi
  exec "$top/tests/demo/demo.sh" "$build"
}

usage() {
  cat <<EOF
usage: ./run.sh COMMAND
  demo    the main job: multihomed SCTP load balancing, shown step by step
  test    install missing Debian packages, build (normal and ASan/UBSan), run every test
  build   install missing packages and build into ./build
  package build the Debian package (./build/sctplb_*.deb; docs/operations.md "Install from the package")
  help    this text
EOF
}

case "${1:-help}" in
  demo) cmd_demo ;;
  test) cmd_test ;;
  build) cmd_build ;;
  package) cmd_package ;;
  help | -h | --help) usage ;;
  *)
    echo "run.sh: unknown command '$1'" >&2
    usage >&2
    exit 2
    ;;
esac
