#!/bin/bash
# sctpt's command-line conventions, no network and no root:
#  1. `sctpt COMMAND --help` (and -h) for every command: exit 0, usage on stdout, nothing on
#     stderr, every option of the command listed (with the stack options where they apply);
#  2. `sctpt --version` and `sctpt version` print "sctpt VERSION", VERSION from CMakeLists.txt;
#  3. an unknown option still is a usage error (exit 2);
#  4. Xcluster ovl/sctp's options: --log 0-7 (else exit 2), and `stats` on the shared memory
#     histogram: init with --buckets/--interval (also as --opt=value), show, json, clear, and
#     clear one-line errors for a missing object, a bad operation or bucket count.
#
# Usage: test-sctpt-cli.sh [help]   (SCTPT=path/to/sctpt, else $SCTPLB_BUILD_DIR's or the newest
# build*/test-apps/sctpt/sctpt)
set -eu

if [ "${1:-}" = help ] || [ "${1:-}" = --help ]; then
	sed -n '2,12p' "$0"
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
shm=sctpt-cli-$$
trap 'rm -f "$out" "$err" "/dev/shm/$shm"' EXIT

stack_options="--stack --hb-interval --rto-min --rto-max --rto-initial --path-max-retrans
  --init-max-retrans --sack-delay --udp-encap --debug"
declare -A command_options=(
	[server]="--addr --port --name --verbose --log $stack_options"
	[client]="--addr --laddr --port --lport --count --interval --primary --primary-after
	  --add-laddr --add-laddr-after --del-laddr --del-laddr-after --echo-wait --connect-timeout
	  --size --abort --verbose --log $stack_options"
	[ctraffic]="--addr --laddr --port --lport-fixed --clients --rate --duration --size --primary
	  --primary-after --echo-wait --connect-timeout --stats-file --shm --log $stack_options"
	[stats]="--stats-file --shm --buckets --interval --log"
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

# 4. ovl/sctp compatibility.
for level in 8 -1 x; do
	status=0
	"$sctpt" server --log "$level" --addr 127.0.0.1 >"$out" 2>"$err" || status=$?
	[ "$status" = 2 ] || fail "sctpt server --log $level exited $status, expected 2"
	[ "$(wc -l <"$err")" = 1 ] && grep -q -- "--log" "$err" ||
		fail "sctpt server --log $level: no one-line error naming --log: $(cat "$err")"
done
# expect_stats DESCRIPTION EXPECTED-STDOUT ARGS...: exit 0 and exactly that output.
expect_stats() {
	local description=$1 expected=$2 status=0
	shift 2
	"$sctpt" stats "$@" >"$out" 2>"$err" || status=$?
	if [ "$status" != 0 ] || [ "$(cat "$out")" != "$expected" ]; then
		fail "$description: exit $status, stdout '$(cat "$out")', stderr '$(cat "$err")'"
	fi
}
expect_stats "stats init (--opt=value form)" "" --shm="$shm" --buckets=3 --interval=250 --log=7 init
expect_stats "stats json after init" \
	'{"sent": 0, "received": 0, "max_rtt_us": 0, "buckets": 3, "interval_us": 250, "histogram": [0, 0, 0]}' \
	--shm "$shm" json
expect_stats "stats show (the default operation with --shm)" "$(printf '%s\n' \
	'sent      0' 'received  0' 'max_rtt   0.0 ms' 'interval  250 us' \
	'       0-250      us          0 |' '     250-500      us          0 |' \
	'     500+         us          0 |')" --shm "$shm"
expect_stats "stats clear sets the interval" "" --shm "$shm" --interval 40 clear
expect_stats "stats json after clear" \
	'{"sent": 0, "received": 0, "max_rtt_us": 0, "buckets": 3, "interval_us": 40, "histogram": [0, 0, 0]}' \
	--shm "$shm" json
# expect_error STATUS PATTERN ARGS...: sctpt ARGS exits STATUS with one stderr line matching.
expect_error() {
	local expected_status=$1 pattern=$2 status=0
	shift 2
	"$sctpt" "$@" >"$out" 2>"$err" || status=$?
	if [ "$status" != "$expected_status" ] || [ "$(wc -l <"$err")" != 1 ] || ! grep -q -- "$pattern" "$err"; then
		fail "sctpt $*: exit $status (expected $expected_status), stderr: $(cat "$err")"
	fi
}
expect_error 1 "cannot open shared memory 'no-such-$shm'" stats --shm "no-such-$shm" show
expect_error 2 "'bogus' is not one of init, clear, show, json" stats --shm "$shm" bogus
expect_error 2 "unexpected argument 'show'" stats --shm "$shm" json show
expect_error 2 "buckets must be 1..4096" stats --shm "$shm" --buckets 0 init
expect_error 2 "interval must be" stats --shm "$shm" --interval 0 clear
expect_error 2 "stats-file does not go with" stats --stats-file /dev/null --shm "$shm"
expect_error 2 "size: at most 65000" client --addr 127.0.0.1 --laddr 127.0.0.1 --size 70000
expect_error 2 "size and --count exclude each other" client --addr 127.0.0.1 --laddr 127.0.0.1 \
	--size 10 --count 2
expect_error 2 "add-laddr: 'x' is not an address" client --addr 127.0.0.1 --laddr 127.0.0.1 \
	--add-laddr x --add-laddr-after 1
expect_error 2 "count: '-1' is not a valid number" client --addr 127.0.0.1 --laddr 127.0.0.1 --count -1
printf 'not a histogram' >"/dev/shm/$shm"
expect_error 1 "is not an sctpt histogram" stats --shm "$shm" json

if [ "$failures" -ne 0 ]; then
	echo "test-sctpt-cli: $failures check(s) failed" >&2
	exit 1
fi
echo "test-sctpt-cli: passed"
