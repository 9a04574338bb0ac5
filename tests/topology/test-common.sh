# shellcheck shell=bash
# shellcheck disable=SC2154 # tl_topology, tl_state_var: set by the sourcing library
# test-common.sh: what the two test libraries (lb-test-lib.sh on lb-topology.sh, dual-path-lib.sh
# on dual-path.sh) share: PASS/FAIL/SKIP bookkeeping, the requirement check, background clients
# with PIDs recorded and killed by PID, waiting with a timeout, echo parsing, JSON, the EXIT trap
# that brings the topology down, and the final verdict with logs. Sourced by those libraries, which
# set tl_topology (the topology script), tl_state_var (the name of its env's state directory
# variable) and tl_keep_logs (1: keep the logs) before tl_setup.
#
# Provides: tl_check_requirements NS-NAME TOOL..., tl_setup NAME [up options], tl_spawn NAME NS
# COMMAND..., tl_wait NAME [SECONDS], tl_log NAME, tl_echo_servers NAME, tl_echo_count NAME,
# tl_wait_echoes NAME N [SECONDS], tl_has_echoes NAME N, tl_until SECONDS COMMAND..., tl_server_messages SERVER, tl_json JSON EXPR,
# tl_check_one_server ..., tl_pass/tl_fail/tl_say/tl_skip/tl_finish, tl_cleanup; tl_prefix and
# tl_work (client logs).

tl_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tl_source_dir=$(cd "$tl_lib_dir/../.." && pwd)
: "${SCTPLB_BUILD_DIR:=$tl_source_dir/build}"
: "${SCTPLB_BIN:=$SCTPLB_BUILD_DIR/lb/cli/sctplb}"
: "${SCTPT:=$SCTPLB_BUILD_DIR/test-apps/sctpt/sctpt}"
export SCTPLB_BUILD_DIR SCTPLB_BIN SCTPT

tl_failures=0
tl_client_pids=()
declare -A tl_client_pid=()
tl_prefix=
tl_work=
tl_state=
tl_keep_logs=

tl_skip() {
	echo "SKIP: $*"
	exit 77 # ctest: SKIP_RETURN_CODE 77
}
tl_pass() { echo "PASS: $*"; }
tl_fail() {
	echo "FAIL: $*"
	tl_failures=$((tl_failures + 1))
}
tl_say() { echo "--- $*"; }

# tl_check_requirements NS-NAME TOOL...: SKIP (exit 77, saying why) when this machine cannot run
# the tests; NS-NAME + $$ is the namespace that tries the NFQUEUE target.
tl_check_requirements() {
	local check=$1$$ tool
	shift
	[ "$(id -u)" = 0 ] || tl_skip "needs root (network namespaces, iptables, NFQUEUE)"
	for tool in "$@"; do
		command -v "$tool" >/dev/null || tl_skip "$tool is not installed"
	done
	[ -x "$SCTPLB_BIN" ] || tl_skip "sctplb not built at $SCTPLB_BIN"
	[ -x "$SCTPT" ] || tl_skip "sctpt not built at $SCTPT"
	"$SCTPT" help | grep -q "^stacks built in:.* usrsctp" ||
		tl_skip "sctpt at $SCTPT has no usrsctp stack (needs libusrsctp-dev)"
	ip netns add "$check" 2>/dev/null || tl_skip "cannot create network namespaces"
	if ! ip netns exec "$check" iptables -t mangle -A PREROUTING -p sctp -j NFQUEUE --queue-num 2 \
		2>/dev/null; then
		ip netns delete "$check"
		tl_skip "iptables NFQUEUE target not available"
	fi
	ip netns delete "$check"
}

tl_cleanup() {
	local pid
	for pid in "${tl_client_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	for pid in "${tl_client_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	tl_client_pids=()
	if [ -n "$tl_prefix" ]; then
		if [ "$tl_keep_logs" = 1 ] && [ -n "$tl_state" ] && [ -d "$tl_state" ]; then
			cp -r "$tl_state" "$tl_work/topology" 2>/dev/null || true
		fi
		"$tl_topology" down "$tl_prefix" || true
		tl_prefix=
	fi
	if [ -n "$tl_work" ]; then
		if [ "$tl_keep_logs" = 1 ]; then echo "logs kept in $tl_work"; else rm -rf "$tl_work"; fi
		tl_work=
	fi
}

# tl_setup NAME [up options]: topology PREFIX = NAME + $$ up, its env variables set, servers
# started, load balancer(s) not started.
tl_setup() {
	local name=$1
	shift
	tl_prefix=$name$$
	tl_work=$(mktemp -d "/tmp/$name.XXXXXX")
	trap tl_cleanup EXIT
	trap 'exit 130' INT TERM
	"$tl_topology" up "$tl_prefix" "$@"
	eval "$("$tl_topology" env "$tl_prefix")"
	tl_state=${!tl_state_var}
	"$tl_topology" servers "$tl_prefix"
}

# tl_spawn NAME NS COMMAND...: COMMAND in namespace NS in the background, output in
# $tl_work/NAME.log, its PID recorded (killed by tl_cleanup).
tl_spawn() {
	local name=$1 ns=$2
	shift 2
	# The log exists before the client starts: a reader racing the child's own redirection would
	# find no file (and tl_echo_count no number).
	: >"$tl_work/$name.log"
	# A background command's standard input is /dev/null unless redirected here: TL_SPAWN_INPUT
	# names a file (e.g. a FIFO the test feeds) to read instead.
	ip netns exec "$ns" "$@" <"${TL_SPAWN_INPUT:-/dev/null}" >>"$tl_work/$name.log" 2>&1 &
	tl_client_pid[$name]=$!
	tl_client_pids+=($!)
}

# tl_wait NAME [SECONDS]: the client's exit status (124, and killed, after SECONDS, default 30).
tl_wait() {
	local name=$1 limit=${2:-30} pid status tenths
	pid=${tl_client_pid[$name]}
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

# tl_until SECONDS COMMAND...: until.sh.
# shellcheck source=until.sh
. "$tl_lib_dir/until.sh"

tl_log() { cat "$tl_work/$1.log"; }
# The servers that echoed the client's messages, one per line, sorted, unique (the client runs
# with --verbose: "echo via ADDRESS: server-N: message K" per echo).
tl_echo_servers() {
	sed -n 's/.*] echo via [^ ]*: \(server-[0-9]*\): .*/\1/p' "$tl_work/$1.log" | sort -u
}
tl_echo_count() { grep -c '] echo via' "$tl_work/$1.log" || true; }
# tl_has_echoes NAME N: the client has N echoes or more (for tl_until).
tl_has_echoes() { [ "$(tl_echo_count "$1")" -ge "$2" ]; }
# tl_wait_echoes NAME N [SECONDS]: until the client has N echoes (returns 1 after SECONDS, 10).
tl_wait_echoes() {
	local name=$1 want=$2 tenths=$((${3:-10} * 10))
	while [ "$(tl_echo_count "$name")" -lt "$want" ]; do
		tenths=$((tenths - 1))
		[ $tenths -gt 0 ] || return 1
		sleep 0.1
	done
}

# tl_server_messages SERVER: "ADDRESS message N" for every message the server received (its log:
# sctpt server --verbose, "association A: from ADDRESS: message N").
tl_server_messages() {
	sed -n "s/.*] association [0-9]*: from \([0-9a-f.:]*\): \(message [0-9]*\)$/\1 \2/p" \
		"$tl_state/$1.log"
}

# tl_python: the interpreter for the checks: /usr/bin/python3 when there is one (a `python3` on
# PATH may be a version-manager shim, ~90 ms a start against ~12 ms: it slows every check).
tl_python=python3
[ ! -x /usr/bin/python3 ] || tl_python=/usr/bin/python3
# tl_json JSON PYTHON-EXPRESSION: evaluates the expression with `d` = the parsed JSON.
tl_json() {
	"$tl_python" -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

tl_finish() {
	if [ "$tl_failures" -gt 0 ]; then
		echo "FAILED: $tl_failures check(s) failed; logs follow"
		local file
		for file in "$tl_work"/*.log "$tl_state"/*.log; do
			[ -f "$file" ] || continue
			echo "===== $file (last 60 lines)"
			tail -n 60 "$file"
		done
		exit 1
	fi
	echo "ALL PASSED"
	exit 0
}

# tl_check_one_server NAME COUNT BEFORE AFTER STATUS COUNTER-FUNCTION "SERVERS" "ADDRESSES" WHY:
# FAILs unless the client exited 0 with COUNT echoes, all from one server, which received packets
# from every one of the client's ADDRESSES (else: "..., WHY") while no other of SERVERS (numbers)
# received any; BEFORE and AFTER are "server-N ADDRESS COUNT" snapshots read with COUNTER-FUNCTION.
# Sets tl_one_server (server-N, or "none" when the echoes came from several servers or none);
# returns 0 when every check held.
tl_check_one_server() {
	local name=$1 count=$2 before=$3 after=$4 status=$5 counter=$6 all_servers=$7 addresses=$8 why=$9
	local servers server s address delta ok=yes
	tl_one_server=none
	if [ "$status" != 0 ] || [ "$(tl_echo_count "$name")" != "$count" ]; then
		tl_fail "$name: exit $status, $(tl_echo_count "$name") of $count echoes"
		ok=no
	fi
	servers=$(tl_echo_servers "$name")
	if [ "$(echo "$servers" | grep -c .)" != 1 ]; then
		tl_fail "$name: echoes from several servers (or none): $(echo "$servers" | tr "\n" " ")"
		return 1
	fi
	server=$servers
	for s in $all_servers; do
		for address in $addresses; do
			delta=$(($("$counter" "$after" "server-$s" "$address") - $("$counter" "$before" "server-$s" "$address")))
			if [ "server-$s" = "$server" ] && [ "$delta" -eq 0 ]; then
				tl_fail "$name: $server received no packet from $address ($why)"
				ok=no
			elif [ "server-$s" != "$server" ] && [ "$delta" -ne 0 ]; then
				tl_fail "$name: server-$s received $delta packets from $address, but $server has the association"
				ok=no
			fi
		done
	done
	# shellcheck disable=SC2034 # read by the callers
	tl_one_server=$server
	[ $ok = yes ]
}
