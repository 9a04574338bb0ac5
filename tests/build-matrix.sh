#!/bin/bash
# Builds sctplb in every CMake build type with gcc, and once with clang, each in its own directory
# under DIR with warnings as errors (SCTPLB_WERROR=ON), and runs the unit tests (ctest -L unit) in
# each. Not part of CI (run.sh test builds Release and the sanitizer Debug build); run it before a
# release or after touching compiler flags. Uses ccache when it is installed.
#
# Usage: tests/build-matrix.sh DIR [--jobs N] [--only NAME[,NAME...]]
#   NAME: Debug Release RelWithDebInfo MinSizeRel (gcc) and clang-Release (clang++, libstdc++)
#   Prints one line per build (configure+build seconds, unit-test seconds, result); exits 1 if
#   any build or test failed. Logs: DIR/NAME.log
set -eu

usage() { sed -n '2,11p' "$0"; }

top=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
only=
dir=
while [ $# -gt 0 ]; do
	case "$1" in
	help | -h | --help)
		usage
		exit 0
		;;
	--jobs)
		jobs=${2:?--jobs needs a number}
		shift 2
		;;
	--only)
		only=${2:?--only needs NAME[,NAME...]}
		shift 2
		;;
	-*)
		echo "build-matrix.sh: unknown option '$1'" >&2
		exit 2
		;;
	*)
		[ -z "$dir" ] || { echo "build-matrix.sh: one DIR only ('$1')" >&2; exit 2; }
		dir=$1
		shift
		;;
	esac
done
if [ -z "$dir" ]; then
	echo "build-matrix.sh: no DIR given (usage: tests/build-matrix.sh DIR)" >&2
	exit 2
fi
case "$jobs" in '' | *[!0-9]*) echo "build-matrix.sh: --jobs: '$jobs' is not a number" >&2; exit 2 ;; esac
all_builds="Debug Release RelWithDebInfo MinSizeRel clang-Release"
builds=${only//,/ }
builds=${builds:-$all_builds}
for name in $builds; do
	case " $all_builds " in *" $name "*) ;; *)
		echo "build-matrix.sh: --only: '$name' is not one of $all_builds" >&2
		exit 2
		;;
	esac
done

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

launcher=()
if command -v ccache >/dev/null; then
	launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

failed=0
summary=()
for name in $builds; do
	build_dir=$dir/$name
	log=$dir/$name.log
	compiler=()
	type=$name
	if [ "$name" = clang-Release ]; then
		type=Release
		if ! command -v clang++ >/dev/null || ! command -v clang >/dev/null; then
			summary+=("$(printf '%-16s skipped: clang/clang++ not found (Debian: clang)' "$name")")
			continue
		fi
		compiler=(-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++)
	fi
	echo "== $name ($build_dir; log $log)"
	start=$SECONDS
	result=passed
	if ! { cmake -S "$top" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "${compiler[@]}" \
		"${launcher[@]}" -DSCTPLB_WERROR=ON -DSCTPLB_BUILD_BENCHMARKS=OFF &&
		cmake --build "$build_dir" -j "$jobs"; } >"$log" 2>&1; then
		result="BUILD FAILED"
	fi
	built=$SECONDS
	if [ "$result" = passed ] &&
		! ctest --test-dir "$build_dir" -L unit -j "$jobs" --output-on-failure >>"$log" 2>&1; then
		result="UNIT TESTS FAILED"
	fi
	tested=$SECONDS
	[ "$result" = passed ] || { failed=1; tail -n 20 "$log"; }
	summary+=("$(printf '%-16s build %4ds  unit tests %4ds  %s' "$name" $((built - start)) \
		$((tested - built)) "$result")")
done

echo "== build matrix ($dir)"
printf '%s\n' "${summary[@]}"
exit $failed
