# shellcheck shell=bash
# lb-test-lib.sh: helpers shared by tests/integration/test-lb-*.sh and tests/demo/demo.sh, on top
# of lb-topology.sh. Source it (bash); it sets no traps itself: call lbt_setup, which installs an
# EXIT trap that stops every client started here and brings the topology down.
#
# Provides: lbt_setup PREFIX_BASE [up options], lbt_client NAME K [usctp client options],
# lbt_wait NAME [SECONDS], lbt_echo_servers NAME, lbt_echo_count NAME, lbt_wait_echoes NAME N,
# lbt_counters, lbt_pass/lbt_fail/lbt_finish, lbt_sctplb ARGS (with --shm), lbt_json EXPR.

lbt_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lbt_source_dir=$(cd "$lbt_lib_dir/../.." && pwd)
LBT_TOPOLOGY=$lbt_lib_dir/lb-topology.sh
: "${SCTPLB_BUILD_DIR:=$lbt_source_dir/build}"
: "${SCTPLB_BIN:=$SCTPLB_BUILD_DIR/lb/cli/sctplb}"
: "${USCTP:=$SCTPLB_BUILD_DIR/test-apps/usrsctp/usctp}"
export SCTPLB_BUILD_DIR SCTPLB_BIN USCTP

lbt_failures=0
lbt_client_pids=()
declare -A lbt_client_pid=()
lbt_prefix=
lbt_work=

lbt_skip() {
	echo "SKIP: $*"
	exit 0
}
lbt_pass() { echo "PASS: $*"; }
lbt_fail() {
	echo "FAIL: $*"
	lbt_failures=$((lbt_failures + 1))
}
lbt_say() { echo "--- $*"; }

# lbt_check_requirements: SKIP (exit 0) when this machine cannot run the tests.
lbt_check_requirements() {
	[ "$(id -u)" = 0 ] || lbt_skip "needs root (network namespaces, iptables, NFQUEUE)"
	local tool
	for tool in ip nft iptables python3; do
		command -v "$tool" >/dev/null || lbt_skip "$tool is not installed"
	done
	[ -x "$SCTPLB_BIN" ] || lbt_skip "sctplb not built at $SCTPLB_BIN"
	[ -x "$USCTP" ] || lbt_skip "usctp not built at $USCTP (needs libusrsctp-dev)"
	ip netns add "lbtcheck$$" 2>/dev/null || lbt_skip "cannot create network namespaces"
	if ! ip netns exec "lbtcheck$$" iptables -t mangle -A PREROUTING -p sctp -j NFQUEUE --queue-num 2 \
		2>/dev/null; then
		ip netns delete "lbtcheck$$"
		lbt_skip "iptables NFQUEUE target not available"
	fi
	ip netns delete "lbtcheck$$"
}

lbt_cleanup() {
	local pid
	for pid in "${lbt_client_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	for pid in "${lbt_client_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	lbt_client_pids=()
	if [ -n "$lbt_prefix" ]; then
		if [ "${LBT_KEEP_LOGS:-}" = 1 ] && [ -d "/tmp/lb-topology/$lbt_prefix" ]; then
			cp -r "/tmp/lb-topology/$lbt_prefix" "$lbt_work/topology" 2>/dev/null || true
		fi
		"$LBT_TOPOLOGY" down "$lbt_prefix" || true
	fi
	if [ -n "$lbt_work" ]; then
		if [ "${LBT_KEEP_LOGS:-}" = 1 ]; then echo "logs kept in $lbt_work"; else rm -rf "$lbt_work"; fi
	fi
}

# lbt_setup NAME [up options]: topology PREFIX = NAME + $$, servers started, lb not started.
lbt_setup() {
	local name=$1
	shift
	lbt_prefix=$name$$
	lbt_work=$(mktemp -d "/tmp/$name.XXXXXX")
	trap lbt_cleanup EXIT
	trap 'exit 130' INT TERM
	"$LBT_TOPOLOGY" up "$lbt_prefix" "$@"
	eval "$("$LBT_TOPOLOGY" env "$lbt_prefix")"
	"$LBT_TOPOLOGY" servers "$lbt_prefix"
}

lbt_lb_start() { "$LBT_TOPOLOGY" lb-start "$lbt_prefix" "$@" >/dev/null; }
lbt_lb_stop() { "$LBT_TOPOLOGY" lb-stop "$lbt_prefix" "$@"; }
# lbt_sctplb COMMAND ARGS: an sctplb control command in the LB namespace (where `stats` finds the
# kernel's queue figures), on this topology's segment.
lbt_sctplb() {
	local command=$1
	shift
	ip netns exec "$LB_NS" "$SCTPLB_BIN" "$command" --shm "$lbt_prefix" "$@"
}

# lbt_client NAME K [usctp client options]: starts a multihomed client in client K's namespace
# (both local addresses, both VIPs) in the background; output in $lbt_work/NAME.log.
lbt_client() {
	local name=$1 k=$2 ns addrs
	shift 2
	ns=LB_CLIENT${k}_NS
	addrs=LB_CLIENT${k}_ADDRS
	ip netns exec "${!ns}" "$USCTP" client --addr "$LB_VIPS" --laddr "${!addrs}" --port "$LB_PORT" "$@" \
		>"$lbt_work/$name.log" 2>&1 &
	lbt_client_pid[$name]=$!
	lbt_client_pids+=($!)
}

# lbt_wait NAME [SECONDS]: the client's exit status (124 and killed after SECONDS, default 30).
lbt_wait() {
	local name=$1 limit=${2:-30} pid status tenths
	pid=${lbt_client_pid[$name]}
	tenths=$((limit * 10))
	while kill -0 "$pid" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; do
		tenths=$((tenths - 1))
		if [ $tenths -le 0 ]; then
			kill -KILL "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			return 124
		fi
		sleep 0.1
	done
	status=0
	wait "$pid" || status=$?
	return $status
}

lbt_log() { cat "$lbt_work/$1.log"; }
# The servers that echoed the client's messages, one per line, sorted, unique.
lbt_echo_servers() {
	sed -n 's/.*client: echo via [^ ]*: \(server-[0-9]*\): .*/\1/p' "$lbt_work/$1.log" | sort -u
}
lbt_echo_count() { grep -c 'client: echo via' "$lbt_work/$1.log" || true; }
# lbt_wait_echoes NAME N [SECONDS]: until the client has N echoes (returns 1 on timeout).
lbt_wait_echoes() {
	local name=$1 want=$2 tenths=$((${3:-10} * 10))
	while [ "$(lbt_echo_count "$name")" -lt "$want" ]; do
		tenths=$((tenths - 1))
		[ $tenths -gt 0 ] || return 1
		sleep 0.1
	done
}
# "server-N ADDRESS COUNT" lines: SCTP packets each server received per client address.
lbt_counters() { "$LBT_TOPOLOGY" counters "$lbt_prefix"; }
# lbt_counter COUNTERS SERVER ADDRESS
lbt_counter() { echo "$1" | awk -v s="$2" -v a="$3" '$1 == s && $2 == a { print $3 }'; }

# lbt_json JSON PYTHON-EXPRESSION: evaluates the expression with `d` = the parsed JSON.
lbt_json() {
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

# lbt_server_messages SERVER: "ADDRESS message N" for every message the server received.
lbt_server_messages() {
	sed -n "s/.*$1: association [0-9]*: from \([0-9.]*\): \(message [0-9]*\)$/\1 \2/p" \
		"$LB_STATE/$1.log"
}

lbt_finish() {
	if [ "$lbt_failures" -gt 0 ]; then
		echo "FAILED: $lbt_failures check(s) failed; logs follow"
		local file
		for file in "$lbt_work"/*.log "$LB_STATE"/*.log; do
			[ -f "$file" ] || continue
			echo "===== $file (last 60 lines)"
			tail -n 60 "$file"
		done
		exit 1
	fi
	echo "ALL PASSED"
	exit 0
}
