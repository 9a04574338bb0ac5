#!/bin/bash
# sctpt plot on an event file recorded in a real demo run (tests/data/sctpt-events-demo-client.jsonl,
# client 1 of tests/demo/demo.sh: path A cut, failover to path B), no network and no root:
#  1. PNG and SVG pictures: the file starts with the PNG signature / contains "<svg", and its
#     size is sane (5 KB .. 5 MB); a --marker and a --title are accepted;
#  2. a malformed line, an empty file, a missing file, an unknown extension and a missing
#     gnuplot each exit non-zero with a clear one-line error naming the cause.
# Skips (exit 77) only if gnuplot is not installed (run.sh installs gnuplot-nox).
#
# Usage: test-sctpt-plot.sh [help]   (SCTPT=path/to/sctpt, else $SCTPLB_BUILD_DIR's)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,10p' "$0"
	exit 0
fi

script_dir=$(cd "$(dirname "$0")" && pwd)
source_dir=${SCTPLB_SOURCE_DIR:-$(cd "$script_dir/../.." && pwd)}
sctpt=${SCTPT:-${SCTPLB_BUILD_DIR:-$source_dir/build}/test-apps/sctpt/sctpt}
events=$source_dir/tests/data/sctpt-events-demo-client.jsonl
if [ ! -x "$sctpt" ]; then
	echo "SKIP: sctpt is not built ($sctpt)"
	exit 77
fi
if ! command -v gnuplot >/dev/null; then
	echo "SKIP: gnuplot is not installed (apt-get install gnuplot-nox)"
	exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/test-sctpt-plot.$$.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# check_picture FILE KIND: the header and a sane size.
check_picture() {
	local file=$1 kind=$2 size
	[ -s "$file" ] || { fail "$kind: no picture written"; return; }
	size=$(stat -c %s "$file")
	if [ "$size" -le 5120 ] || [ "$size" -ge 5242880 ]; then
		fail "$kind: $size bytes, not between 5 KB and 5 MB"
	fi
	case $kind in
	png) [ "$(head -c 4 "$file" | od -An -tx1 | tr -d ' \n')" = 89504e47 ] || fail "png: no PNG signature" ;;
	svg) grep -q '<svg' "$file" || fail "svg: no <svg element" ;;
	esac
	echo "ok: $kind picture, $size bytes"
}

for kind in png svg; do
	if "$sctpt" plot "$events" -o "$work/timeline.$kind" --marker 2.46="path A cut" \
		--title "test-sctpt-plot" >"$work/$kind.out" 2>&1; then
		check_picture "$work/timeline.$kind" "$kind"
	else
		fail "$kind: sctpt plot failed: $(cat "$work/$kind.out")"
	fi
done

# expect_error NAME PATTERN COMMAND...: exit status non-zero, one stderr line matching PATTERN.
expect_error() {
	local name=$1 pattern=$2 status=0
	shift 2
	"$@" >"$work/out" 2>"$work/err" || status=$?
	if [ "$status" = 0 ]; then
		fail "$name: exit 0"
	elif [ "$(wc -l <"$work/err")" != 1 ] || ! grep -q -- "$pattern" "$work/err"; then
		fail "$name: exit $status, stderr not one line matching '$pattern': $(cat "$work/err")"
	else
		echo "ok: $name: exit $status, $(cat "$work/err")"
	fi
}

head -n 5 "$events" >"$work/malformed.jsonl"
echo '{"t":1.0,"event":"echo","client":0' >>"$work/malformed.jsonl"
: >"$work/empty.jsonl"
expect_error "malformed line" "malformed.jsonl:6: not a JSON object" \
	"$sctpt" plot "$work/malformed.jsonl" -o "$work/x.png"
expect_error "empty file" "empty.jsonl: empty (no events)" \
	"$sctpt" plot "$work/empty.jsonl" -o "$work/x.png"
expect_error "missing file" "cannot open" \
	"$sctpt" plot "$work/none.jsonl" -o "$work/x.png"
expect_error "unknown extension" "unknown picture type" \
	"$sctpt" plot "$events" -o "$work/x.jpg"
expect_error "no gnuplot" "install gnuplot-nox" \
	env PATH=/nonexistent "$sctpt" plot "$events" -o "$work/x.png"
[ ! -e "$work/x.png" ] || fail "a failed plot left $work/x.png"

if [ "$failures" != 0 ]; then
	echo "test-sctpt-plot: $failures failures" >&2
	exit 1
fi
echo "test-sctpt-plot: all passed"
