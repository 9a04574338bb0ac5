#!/bin/bash
# sctpt's command-line conventions, no network and no root:
#  1. `sctpt COMMAND --help` (and -h) for every command: exit 0, usage on stdout, nothing on
#     stderr, every option of the command listed (with the stack options where they apply);
#  2. `sctpt --version` and `sctpt version` print "sctpt VERSION", VERSION from CMakeLists.txt;
#  3. an unknown option still is a usage error (exit 2).
#
# Usage: test-sctpt-cli.sh [help]   (SCTPT=path/to/sctpt, else $SCTPLB_BUILD_DIR's or the newest
# build*/test-apps/sctpt/sctpt)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,9p' "$0"
	exit 0
fi

script_dir=$(cd "$(dirname "$0")" && pwd)
source_dir=${SCTPLB_SOURCE_DIR:-$(cd "$script_dir/../.." && pwd)}
failures=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

if [ -n "${SCTPT:-}" ]; then
	sctpt=$SCTPT
elif [ -n "${SCTPLB_BUILD_DIR:-}" ]; then
	sctpt=$SCTPLB_BUILD_DIR/test-apps/sctpt/sctpt
else
	sctpt=$(ls -t "$source_dir"/build*/test-apps/sctpt/sctpt 2>/dev/null | head -1)
fi
if [ -z "$sctpt" ] || [ ! -x "$sctpt" ]; then
	echo "SKIP: sctpt is not built (cmake --build BUILD --target sctpt)"
	exit 77
fi

out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

stack_options="--stack --hb-interval --rto-min --rto-max --rto-initial --path-max-retrans
  --init-max-retrans --sack-delay --udp-encap --debug"
declare -A command_options=(
	[server]="--addr --port --name --verbose $stack_options"
	[client]="--addr --laddr --port --lport --primary --primary-after --echo-wait
	  --connect-timeout $stack_options"
	[ctraffic]="--addr --laddr --port --lport-fixed --clients --rate --duration --size --primary
	  --primary-after --echo-wait --connect-timeout --stats-file $stack_options"
	[stats]="--stats-file"
)

# 1. Per-command help.
for command in server client ctraffic stats; do
	for help in --help -h; do
		status=0
		"$sctpt" "$command" "$help" >"$out" 2>"$err" || status=$?
		[ "$status" = 0 ] || fail "sctpt $command $help exited $status"
		[ ! -s "$err" ] || fail "sctpt $command $help wrote to stderr: $(head -1 "$err")"
		head -1 "$out" | grep -q "^usage: sctpt $command " ||
			fail "sctpt $command $help: no usage line: $(head -1 "$out")"
	done
	# -- ends grep's options; each option must appear as a listed word.
	for option in ${command_options[$command]}; do
		grep -qE -- "^  $option( |\$)" "$out" || fail "sctpt $command --help does not list $option"
	done
done
# --help after other options still wins (the other options are not validated then).
"$sctpt" server --port 0 --help >"$out" 2>"$err" || fail "sctpt server --port 0 --help failed"

# 2. Version.
expected_version=$(sed -n 's/^project(sctplb VERSION \([0-9.]*\).*/\1/p' "$source_dir/CMakeLists.txt")
[ -n "$expected_version" ] || fail "no project(sctplb VERSION ...) in $source_dir/CMakeLists.txt"
for words in --version version; do
	status=0
	printed=$("$sctpt" $words 2>"$err") || status=$?
	[ "$status" = 0 ] || fail "sctpt $words exited $status"
	[ "$printed" = "sctpt $expected_version" ] ||
		fail "sctpt $words printed '$printed', expected 'sctpt $expected_version'"
done

# 3. Unknown options stay usage errors.
status=0
"$sctpt" server --no-such-option >"$out" 2>"$err" || status=$?
[ "$status" = 2 ] || fail "sctpt server --no-such-option exited $status, expected 2"
grep -q "unknown option '--no-such-option'" "$err" || fail "no 'unknown option' message: $(cat "$err")"

if [ "$failures" -ne 0 ]; then
	echo "test-sctpt-cli: $failures check(s) failed" >&2
	exit 1
fi
echo "test-sctpt-cli: passed"
